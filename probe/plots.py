"""Figures of probe runs: a layer x head heatmap and the accuracy distributions of several models."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def heatmap(values: np.ndarray, path: Path, title: str) -> Path:
    """Validation accuracy per (layer, head), layers as rows."""
    n_layers, n_heads = values.shape
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * n_heads + 2), max(3, 0.25 * n_layers + 1.5)))
    im = ax.imshow(values, aspect="auto", cmap="viridis", vmin=0.5, vmax=max(0.5, float(values.max())))
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="validation accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def accuracy_distributions(named: dict[str, np.ndarray], path: Path) -> Path:
    """ECDF and histogram of per-head validation accuracy, one line per model."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    bins = np.linspace(min(0.4, min(v.min() for v in named.values())), 1.0, 31)
    for name, values in named.items():
        v = np.sort(values.ravel())
        left.step(v, np.arange(1, len(v) + 1) / len(v), where="post", label=name)
        right.hist(v, bins=bins, alpha=0.5, label=name)
    left.set_xlabel("validation accuracy")
    left.set_ylabel("share of heads at or below")
    left.set_title("ECDF of per-head probe accuracy")
    right.set_xlabel("validation accuracy")
    right.set_ylabel("heads")
    right.set_title("histogram")
    left.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
