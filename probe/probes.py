"""One logistic-regression probe per attention head, and how entangled each head's toxicity direction is."""

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score


@dataclass
class HeadProbes:
    """Per-head results, arrays shaped [layers, heads] (directions [layers, heads, head_dim])."""

    train_accuracy: np.ndarray
    val_accuracy: np.ndarray
    val_auc: np.ndarray
    directions: np.ndarray
    val_scores: np.ndarray  # [n_val, layers, heads]: each probe's decision function on the validation texts


def fit_head(x_train: np.ndarray, y_train: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """A probe on standardized float64 features; returns the raw-space weight vector and intercept."""
    mean, std = x_train.mean(0), x_train.std(0) + 1e-8
    clf = LogisticRegression(solver="newton-cholesky", max_iter=200, random_state=seed)
    clf.fit((x_train - mean) / std, y_train)
    w = clf.coef_[0] / std
    return w, float(clf.intercept_[0] - (mean * w).sum())


def fit_probes(acts: np.ndarray, labels: np.ndarray, train: np.ndarray, seed: int = 0,
               on_layer=None) -> HeadProbes:
    """Fit a probe for every (layer, head) on the training rows; score it on the others.

    Features are float64: in float32 sklearn's solvers stall on these small activations.
    """
    n, n_layers, n_heads, _ = acts.shape
    val = ~train
    y_tr, y_val = labels[train], labels[val]
    shape = (n_layers, n_heads)
    tr_acc, val_acc, val_auc = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    directions = np.zeros(acts.shape[1:])
    scores = np.zeros((int(val.sum()), n_layers, n_heads), dtype=np.float32)
    for layer in range(n_layers):
        block = acts[:, layer].astype(np.float64)
        for head in range(n_heads):
            x = block[:, head]
            w, b = fit_head(x[train], y_tr, seed)
            s_tr, s_val = x[train] @ w + b, x[val] @ w + b
            tr_acc[layer, head] = ((s_tr > 0) == y_tr).mean()
            val_acc[layer, head] = ((s_val > 0) == y_val).mean()
            val_auc[layer, head] = roc_auc_score(y_val, s_val)
            directions[layer, head] = w / (np.linalg.norm(w) or 1.0)
            scores[:, layer, head] = s_val
        if on_layer:
            on_layer(layer)
    return HeadProbes(tr_acc, val_acc, val_auc, directions, scores)


def group_directions(acts: np.ndarray, labels: np.ndarray, groups: list[str], min_size: int = 5) -> np.ndarray:
    """Per head, a unit direction for each target group: group mean minus the others' mean, within each toxicity
    class and then averaged, so a group's direction does not simply re-learn its share of toxic texts.
    Returns [n_groups, layers, heads, head_dim] (groups with fewer than min_size texts in a class are left out)."""
    g = np.asarray(groups)
    dirs = []
    for name in sorted(set(groups)):
        parts = []
        for cls in (0, 1):
            inside = (g == name) & (labels == cls)
            outside = (g != name) & (labels == cls)
            if inside.sum() >= min_size and outside.sum() >= min_size:
                parts.append(acts[inside].mean(0, dtype=np.float64) - acts[outside].mean(0, dtype=np.float64))
        if parts:
            d = np.mean(parts, axis=0)
            dirs.append(d / (np.linalg.norm(d, axis=-1, keepdims=True) + 1e-12))
    return np.stack(dirs) if dirs else np.zeros((0, *acts.shape[1:]))


def entanglement(toxicity: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max and mean over groups of |cos(toxicity direction, group direction)|, per head ([layers, heads])."""
    if len(groups) == 0:
        nan = np.full(toxicity.shape[:2], np.nan)
        return nan, nan
    cos = np.abs(np.einsum("lhd,glhd->glh", toxicity, groups))
    return cos.max(0), cos.mean(0)
