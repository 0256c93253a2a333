"""Comparing probe runs across models (e.g. pretrained on 0 % vs 10 % toxic data).

Heads are not independent samples, so the interval on the difference comes from resampling the validation
examples (paired when both runs probed the same texts with the same split), recomputing every head's accuracy
and the top-k mean in each resample. The Mann-Whitney test on the head accuracy distributions is reported
beside it as a description of the distributions, not as the inference.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from scipy.stats import mannwhitneyu

from toxmix.core.errors import ToxmixError
from toxmix.core.files import atomic_path
from toxmix.probe.plots import accuracy_distributions
from toxmix.probe.run import TOP_K, ProbeRun, top_k_mean


@dataclass
class LoadedRun:
    name: str
    run: ProbeRun
    val_accuracy: np.ndarray  # [heads]
    correct: np.ndarray  # [n_val, heads] bool


@dataclass(frozen=True)
class Difference:
    """B minus A: top-k mean accuracy with a bootstrap CI over examples, and a Mann-Whitney p-value."""

    a: str
    b: str
    top_k: int
    delta: float
    ci_low: float
    ci_high: float
    paired: bool
    mannwhitney_p: float
    a_step: int | None = None  # the training step of A's weights when toxmix exported them (0: untrained)
    b_step: int | None = None

    @property
    def distinguishable(self) -> bool:
        """Whether the 95 % interval excludes zero."""
        return self.ci_low > 0 or self.ci_high < 0


def load_run(path: str | Path) -> LoadedRun:
    """A probe run folder's summary, per-head accuracy and per-example correctness."""
    path = Path(path)
    run = ProbeRun.load(path)
    heads = pq.read_table(path / "heads.parquet").to_pandas()
    scores = np.load(path / "val_scores.npy")
    labels = np.load(path / "val_labels.npy").astype(bool)
    correct = (scores.reshape(len(scores), -1) > 0) == labels[:, None]
    return LoadedRun(path.name, run, heads["val_accuracy"].to_numpy(), correct)


def bootstrap_top_k(a: LoadedRun, b: LoadedRun, k: int, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of top-k mean accuracy (b minus a), resampling validation examples."""
    rng = np.random.default_rng(seed)
    paired = _paired(a, b)

    def resampled(run: LoadedRun, weights: np.ndarray) -> np.ndarray:
        acc = weights @ run.correct / run.correct.shape[0]  # [n_boot, heads]
        return np.sort(acc, axis=1)[:, ::-1][:, :k].mean(1)

    wa = rng.multinomial(a.correct.shape[0], np.full(a.correct.shape[0], 1 / a.correct.shape[0]), size=n_boot)
    wb = wa if paired else rng.multinomial(b.correct.shape[0], np.full(b.correct.shape[0], 1 / b.correct.shape[0]),
                                           size=n_boot)
    diff = resampled(b, wb) - resampled(a, wa)
    return float(np.quantile(diff, 0.025)), float(np.quantile(diff, 0.975))


def _paired(a: LoadedRun, b: LoadedRun) -> bool:
    return a.run.data.digest == b.run.data.digest and a.run.split == b.run.split


def compare(paths: list[str | Path], out: Path, k: int = TOP_K,
            n_boot: int = 2000) -> tuple[list[dict], list[Difference]]:
    """Summaries of every run, the difference of each run against the first, and the distribution figure."""
    if len(paths) < 2:
        raise ToxmixError("compare needs at least two probe runs")
    runs = [load_run(p) for p in paths]
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        runs = [LoadedRun(str(p), r.run, r.val_accuracy, r.correct) for p, r in zip(paths, runs, strict=True)]
    k = min([k] + [len(r.val_accuracy) for r in runs])
    rows = [{"run": r.name, "model": r.run.model.name, "heads": len(r.val_accuracy),
             "mean_acc": round(float(r.val_accuracy.mean()), 4), f"top{k}_acc": round(top_k_mean(r.val_accuracy, k), 4),
             "max_acc": round(float(r.val_accuracy.max()), 4),
             "entanglement": None if r.run.summary.mean_entanglement_max is None
             else round(r.run.summary.mean_entanglement_max, 4)} for r in runs]
    diffs = []
    for other in runs[1:]:
        low, high = bootstrap_top_k(runs[0], other, k, n_boot)
        p = mannwhitneyu(other.val_accuracy, runs[0].val_accuracy, alternative="two-sided").pvalue
        diffs.append(Difference(runs[0].name, other.name, k, top_k_mean(other.val_accuracy, k)
                                - top_k_mean(runs[0].val_accuracy, k), low, high, _paired(runs[0], other), float(p),
                                runs[0].run.model.step, other.run.model.step))
    out.mkdir(parents=True, exist_ok=True)
    accuracy_distributions({r.name: r.val_accuracy for r in runs}, out / "accuracy_distributions.png")
    import pandas as pd

    with atomic_path(out / "comparison.csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    with atomic_path(out / "differences.csv") as tmp:
        pd.DataFrame([d.__dict__ for d in diffs]).to_csv(tmp, index=False)
    return rows, diffs
