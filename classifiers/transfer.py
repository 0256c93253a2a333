"""How a recipe transfers: train on all datasets but one and test on the one left out; test on fortunes."""

import tempfile
from dataclasses import dataclass
from pathlib import Path

from toxmix.classifiers.evaluate import Quality, evaluate, load_labelled_set
from toxmix.classifiers.spec import ScorerSpec, build_scorer
from toxmix.classifiers.train_fasttext import FastTextParams, LabelledSource, fortunes, train_fasttext


@dataclass(frozen=True)
class TransferRow:
    """Quality on one test set of a model trained on `trained_on`."""

    test_set: str
    trained_on: tuple[str, ...]
    quality: Quality


def evaluate_file(model: str | Path, source: LabelledSource, threshold: float = 0.5) -> Quality:
    """A fastText model's quality on every example of a labelled source."""
    scorer = build_scorer(ScorerSpec.parse(f"fasttext:{model}"))
    data = load_labelled_set(source.path, source.rule, source.text_field)
    return evaluate(scorer, data, "toxic", threshold).overall


def transfer_report(sources: list[LabelledSource], params: FastTextParams, model: str | Path | None = None,
                    threshold: float = 0.5) -> list[TransferRow]:
    """Leave-one-dataset-out rows (when there are at least two sources), then fortunes for `model` (the one
    trained on all sources), each a model tested on data it never saw."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="toxmix-lodo-") as tmp:
        if len(sources) >= 2:
            for held_out in sources:
                rest = [s for s in sources if s is not held_out]
                path = Path(tmp) / f"without-{held_out.label.replace('/', '_')}.bin"
                train_fasttext(rest, str(path), params)
                rows.append(TransferRow(held_out.label, tuple(s.label for s in rest),
                                        evaluate_file(path, held_out, threshold)))
    if model is not None:
        rows.append(TransferRow("fortunes", tuple(s.label for s in sources), evaluate_file(model, fortunes(),
                                                                                        threshold)))
    return rows
