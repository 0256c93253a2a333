"""Measuring a scorer on labelled data: ROC AUC, precision/recall/F1 at a threshold, per group, and a figure."""

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from toxmix.classifiers.base import Scorer
from toxmix.core.datasets import TOXIC, LabelRule, labelled_records
from toxmix.core.errors import ToxmixError
from toxmix.core.figures import save_figure

TOXIC_LABELS = ("toxic", "toxicity", "hate", "offensive", "label_1")


@dataclass(frozen=True)
class Quality:
    """How well scores separate toxic from clean examples."""

    examples: int
    toxic: int
    roc_auc: float | None  # None when one class is missing
    precision: float
    recall: float
    f1: float
    flagged: float  # share scored at or above the threshold (for a group with one class, its error rate)
    threshold: float


@dataclass(frozen=True)
class LabelledSet:
    """Texts, booleans (toxic) and groups of a labelled file."""

    texts: list[str]
    toxic: np.ndarray
    groups: list[str]


@dataclass
class Evaluation:
    """A scorer's quality overall and per group, with the scores behind it."""

    scorer: str
    label: str
    overall: Quality
    per_group: dict[str, Quality]
    scores: np.ndarray
    toxic: np.ndarray

    def to_dict(self) -> dict:
        return {"scorer": self.scorer, "label": self.label, "overall": asdict(self.overall),
                "per_group": {g: asdict(q) for g, q in self.per_group.items()}}


def quality(toxic: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> Quality:
    """ROC AUC and precision/recall/F1 of `scores >= threshold` (scikit-learn's definitions)."""
    pred = scores >= threshold
    both = len(set(toxic.tolist())) == 2
    return Quality(examples=len(toxic), toxic=int(toxic.sum()),
                   roc_auc=float(roc_auc_score(toxic, scores)) if both else None,
                   precision=float(precision_score(toxic, pred, zero_division=0)),
                   recall=float(recall_score(toxic, pred, zero_division=0)),
                   f1=float(f1_score(toxic, pred, zero_division=0)), flagged=float(pred.mean()) if len(pred) else 0.0,
                   threshold=threshold)


def load_labelled_set(path: str, label_rule: str, text_field: str | None = None,
                      group_field: str | None = None) -> LabelledSet:
    """Every labelled record of a file or folder; groups from a field, or the file name with `file`."""
    texts, toxic, groups, seen = [], [], [], set()
    for text, label, file, record in labelled_records(path, LabelRule.parse(label_rule), text_field):
        if text in seen:  # a repeated text would count twice (ToxiGen prompts reuse their sentences)
            continue
        seen.add(text)
        texts.append(text)
        toxic.append(label == TOXIC)
        groups.append(file.stem if group_field == "file" else str(record.get(group_field)) if group_field else "all")
    if not texts:
        raise ToxmixError(f"no labelled examples in {path} under rule {label_rule!r}; check --label-rule and "
                          "--text-field")
    return LabelledSet(texts, np.asarray(toxic), groups)


def toxic_label(scorer: Scorer, label: str | None) -> str:
    """The scorer's column that means toxic: the one asked for, else the first known toxic name."""
    if label is not None:
        if label not in scorer.labels:
            raise ToxmixError(f"--label {label!r}: the scorer's labels are {', '.join(scorer.labels)}")
        return label
    for name in TOXIC_LABELS:
        if name in scorer.labels:
            return name
    raise ToxmixError(f"which of the scorer's labels ({', '.join(scorer.labels)}) means toxic? pass --label")


def score_texts(scorer: Scorer, texts: list[str], label: str, on_batch=None) -> np.ndarray:
    """One score per text for the given label, in batches."""
    col = scorer.labels.index(label)
    out = np.empty(len(texts), dtype=np.float64)
    for start in range(0, len(texts), scorer.batch_size):
        batch = texts[start:start + scorer.batch_size]
        out[start:start + len(batch)] = scorer.score(batch)[:, col]
        if on_batch:
            on_batch(len(batch))
    return out


def evaluate(scorer: Scorer, data: LabelledSet, label: str | None = None, threshold: float = 0.5,
             on_batch=None) -> Evaluation:
    """Score every text and measure quality overall and per group."""
    label = toxic_label(scorer, label)
    scores = score_texts(scorer, data.texts, label, on_batch)
    groups = np.asarray(data.groups)
    per_group = {g: quality(data.toxic[groups == g], scores[groups == g], threshold)
                 for g in sorted(set(data.groups))}
    return Evaluation(f"{scorer.name}@{scorer.version}", label, quality(data.toxic, scores, threshold), per_group,
                      scores, data.toxic)


def plot_evaluation(ev: Evaluation, path: Path, title: str) -> Path:
    """Score histograms of toxic and clean examples, and a calibration curve (share toxic per score bin)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    bins = np.linspace(0, 1, 21)
    left.hist(ev.scores[ev.toxic], bins=bins, alpha=0.6, label=f"toxic ({int(ev.toxic.sum()):,})")
    left.hist(ev.scores[~ev.toxic], bins=bins, alpha=0.6, label=f"clean ({int((~ev.toxic).sum()):,})")
    left.axvline(ev.overall.threshold, color="k", lw=1, ls="--")
    left.set_xlabel(f"score ({ev.label})")
    left.set_ylabel("examples")
    left.set_yscale("log")
    left.legend()
    left.set_title("scores by true label")
    which = np.clip(np.digitize(ev.scores, bins) - 1, 0, len(bins) - 2)
    centers, shares = [], []
    for b in range(len(bins) - 1):
        inside = which == b
        if inside.sum() >= 5:
            centers.append(ev.scores[inside].mean())
            shares.append(ev.toxic[inside].mean())
    right.plot([0, 1], [0, 1], color="grey", lw=1, ls=":")
    right.plot(centers, shares, marker="o")
    right.set_xlabel("mean score in bin")
    right.set_ylabel("share toxic")
    right.set_title("calibration")
    auc = f"{ev.overall.roc_auc:.3f}" if ev.overall.roc_auc is not None else "n/a"
    fig.suptitle(f"{title}: ROC AUC {auc}, F1 {ev.overall.f1:.3f} at {ev.overall.threshold:g}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, f"{title}: scores of truly toxic and clean examples (left; the dashed line is the "
                       f"threshold {ev.overall.threshold:g}) and calibration (right: share truly toxic per score bin; "
                       "on the dotted diagonal the scores are probabilities).", dpi=120)
