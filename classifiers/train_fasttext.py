"""Training a fastText toxicity classifier with Dolma's settings, and measuring it on held-out data."""

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import fasttext
import numpy as np
import xxhash
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from classifiers.fasttext_scorer import fasttext_line
from classifiers.labelled import CLEAN, TOXIC, LabelRule, labelled_examples
from toxmix.core.errors import ToxmixError
from toxmix.core.files import atomic_path
from toxmix.core.settings import shared_path


@dataclass(frozen=True)
class LabelledSource:
    """One labelled dataset: where it is, how to label it, and which field holds the text."""

    path: str
    rule: str
    text_field: str | None = None


def study_recipe() -> list[LabelledSource]:
    """The offline default: Davidson 0/1 vs 2, Stormfront hate vs noHate, ToxiGen hate vs neutral."""
    data = shared_path("data")
    return [
        LabelledSource(str(data / "davidson" / "labeled_data.csv"), "class=0,1/2", "tweet"),
        LabelledSource(str(data / "stormfront" / "stormfront.jsonl.gz"), "label=hate/noHate", "text"),
        LabelledSource(str(data / "toxigen" / "prompts"), "file=hate_*/neutral_*", None),
    ]


@dataclass
class FastTextParams:
    """fastText hyperparameters; the defaults are Dolma's toxicity classifiers' (word bigrams, dim 100)."""

    dim: int = 100
    word_ngrams: int = 2
    bucket: int = 2_000_000
    epoch: int = 5
    lr: float = 0.1
    min_count: int = 1
    threads: int = 1
    seed: int = 0
    test_fraction: float = 0.1


@dataclass
class TrainReport:
    """Held-out quality of a trained classifier, with counts per dataset."""

    model: str
    train_examples: int
    test_examples: int
    precision: float
    recall: float
    roc_auc: float
    params: dict
    per_source: dict = field(default_factory=dict)


def _is_test(text: str, fraction: float, seed: int) -> bool:
    return xxhash.xxh64_intdigest(text, seed=seed) % 10_000 < fraction * 10_000


def train_fasttext(sources: list[LabelledSource], out: str, params: FastTextParams | None = None,
                   quantize: bool = False) -> TrainReport:
    """Train on all sources (deduplicated texts), hold out a hash-chosen split, save model and report."""
    params = params or FastTextParams()
    seen: set[str] = set()
    train, test, per_source = [], [], {}
    for src in sources:
        counts = {TOXIC: 0, CLEAN: 0}
        for text, label in labelled_examples(src.path, LabelRule.parse(src.rule), src.text_field):
            line = fasttext_line(text)
            if not line or line in seen:
                continue
            seen.add(line)
            counts[label] += 1
            (test if _is_test(line, params.test_fraction, params.seed) else train).append((line, label))
        if not sum(counts.values()):
            raise ToxmixError(f"no labelled examples in {src.path} under rule {src.rule!r}; check the field names")
        per_source[src.path] = counts
    if not test or len({lab for _, lab in train}) < 2:
        raise ToxmixError("need examples of both labels in training and some held out; add data")

    out_path = Path(out).expanduser()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        for line, label in train:
            f.write(f"__label__{label} {line}\n")
        train_file = f.name
    try:
        model = fasttext.train_supervised(
            input=train_file, dim=params.dim, wordNgrams=params.word_ngrams, bucket=params.bucket,
            epoch=params.epoch, lr=params.lr, minCount=params.min_count, thread=params.threads,
            seed=params.seed, verbose=0,
        )
        if quantize:
            model.quantize(input=train_file, retrain=False)
    finally:
        os.unlink(train_file)
    with atomic_path(out_path) as tmp:
        model.save_model(str(tmp))

    labels, probs = model.predict([line for line, _ in test], k=2)
    p_toxic = np.array([dict(zip(lab, p, strict=True)).get(f"__label__{TOXIC}", 0.0)
                        for lab, p in zip(labels, probs, strict=True)])
    y = np.array([lab == TOXIC for _, lab in test])
    report = TrainReport(
        model=str(out_path), train_examples=len(train), test_examples=len(test),
        precision=float(precision_score(y, p_toxic > 0.5, zero_division=0)),
        recall=float(recall_score(y, p_toxic > 0.5, zero_division=0)),
        roc_auc=float(roc_auc_score(y, p_toxic)) if len(set(y)) == 2 else float("nan"),
        params=asdict(params), per_source=per_source,
    )
    out_path.with_name(out_path.name + ".report.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report
