"""Entanglement of feature directions, the Welch bound, and confidence intervals over seeds."""

import math

import numpy as np
from scipy import stats


def welch_bound(n: int, m: int) -> float:
    """The least possible max |cos| among n unit vectors in m dimensions: sqrt((n - m) / ((n - 1) m))."""
    if n <= m:
        return 0.0
    return math.sqrt((n - m) / ((n - 1) * m))


def entanglement(directions: np.ndarray) -> np.ndarray:
    """E(P_i) = max over j != i of |cos(v_i, v_j)|, for directions [n, m]."""
    v = directions / np.linalg.norm(directions, axis=1, keepdims=True).clip(1e-12)
    cos = np.abs(v @ v.T)
    np.fill_diagonal(cos, -np.inf)
    return cos.max(axis=1)


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the t-interval (low, high) over seeds."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf((1 + level) / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half
