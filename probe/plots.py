"""Figures of probe runs: a layer x head heatmap and the accuracy distributions of several models."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from toxmix.core.figures import save_figure  # noqa: E402

ACCURACY_SCALE = (0.5, 1.0)  # one colour scale for every model's heatmap, so two heatmaps compare by eye


def _integer_ticks(n: int) -> list[int]:
    step = max(1, -(-n // 16))  # at most 16 labels
    return list(range(0, n, step))


def heatmap(values: np.ndarray, path: Path, title: str, model: str) -> Path:
    """Validation accuracy per (layer, head), layers as rows, on one colour scale (0.5 to 1) for every model."""
    n_layers, n_heads = values.shape
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * n_heads + 2), max(3, 0.25 * n_layers + 1.5)))
    im = ax.imshow(values, aspect="auto", cmap="viridis", vmin=ACCURACY_SCALE[0], vmax=ACCURACY_SCALE[1])
    ax.set_xticks(_integer_ticks(n_heads))
    ax.set_yticks(_integer_ticks(n_layers))
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="validation accuracy")
    fig.tight_layout()
    best = np.unravel_index(np.argmax(values), values.shape)
    return save_figure(fig, path, f"How well each attention head of {model} holds toxicity linearly: the "
                       f"validation accuracy of a probe on each head's output (rows: layers 0-{n_layers - 1}, "
                       f"columns: heads 0-{n_heads - 1}). Every model is drawn on the same scale, from 0.5 (chance) "
                       f"to 1; the best head, layer {best[0]} head {best[1]}, scores {values.max():.3f}.", dpi=120)


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
    return save_figure(fig, path, "Per-head probe accuracy of each model compared: the share of heads at or below "
                       "each validation accuracy (left; a curve further right means more heads hold toxicity "
                       "linearly) and the histogram of heads (right). Chance is 0.5.", dpi=120)
