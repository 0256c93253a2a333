"""`toxmix classifiers`: train scorers."""

from pathlib import Path
from typing import Annotated

import typer

from toxmix.core.console import out as console
from toxmix.core.errors import ToxmixError

app = typer.Typer(help="Train toxicity scorers for 'toxmix tag'.", no_args_is_help=True)


@app.command("train-fasttext")
def train_fasttext_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to save the model (.bin, or .ftz with --quantize).")],
    data: Annotated[list[str] | None, typer.Option("--data", "-d", help="Labelled file or folder (.csv, .jsonl[.gz], .parquet, .txt); repeatable.")] = None,
    label_rule: Annotated[list[str] | None, typer.Option("--label-rule", "-r", help="FIELD=TOXIC/CLEAN per --data, in order (one rule applies to all): class=0,1/2, label=hate/noHate, file=hate_*/neutral_*.")] = None,
    text_field: Annotated[list[str] | None, typer.Option("--text-field", "-t", help="Text field per --data, in order; guessed (text, tweet, ...) by default.")] = None,
    recipe: Annotated[str | None, typer.Option(help="'study': Davidson 0,1/2 + Stormfront hate/noHate + ToxiGen hate/neutral from TOXMIX_SHARED.")] = None,
    bucket: Annotated[int, typer.Option(help="Hash buckets for n-grams (Dolma: 2,000,000, ~830 MB; use ~100,000 for small models).")] = 2_000_000,
    dim: Annotated[int, typer.Option(help="Embedding dimension (Dolma: 100).")] = 100,
    epoch: Annotated[int, typer.Option(help="Training epochs.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed for fastText and the held-out split.")] = 0,
    quantize: Annotated[bool, typer.Option(help="Quantize the model (save as .ftz) to shrink it.")] = False,
) -> None:
    """Train a toxicity fastText model (labels: toxic, clean) with Dolma's settings; report held-out quality.

    Example: toxmix classifiers train-fasttext --recipe study --out models/toxicity.bin
    """
    from classifiers.train_fasttext import FastTextParams, LabelledSource, study_recipe, train_fasttext

    if recipe is not None:
        if recipe != "study":
            raise ToxmixError(f"unknown --recipe {recipe!r}; the only recipe is 'study'")
        sources = study_recipe()
    else:
        data, rules, fields = list(data or ()), list(label_rule or ()), list(text_field or ())
        if not data:
            raise ToxmixError("give --data with --label-rule, or --recipe study; see --help")
        if len(rules) == 1:
            rules *= len(data)
        if len(rules) != len(data):
            raise ToxmixError(f"{len(data)} --data but {len(rules)} --label-rule: give one rule, or one per --data")
        if fields and len(fields) not in (1, len(data)):
            raise ToxmixError("give one --text-field, or one per --data")
        fields = fields * len(data) if len(fields) == 1 else fields or [None] * len(data)
        sources = [LabelledSource(d, r, f) for d, r, f in zip(data, rules, fields, strict=True)]
    report = train_fasttext(sources, str(out), FastTextParams(bucket=bucket, dim=dim, epoch=epoch, seed=seed),
                            quantize=quantize)
    for path, counts in report.per_source.items():
        console.print(f"{path}: {counts['toxic']:,} toxic, {counts['clean']:,} clean")
    console.print(f"held out {report.test_examples:,} of {report.train_examples + report.test_examples:,}: "
                  f"precision {report.precision:.3f}, recall {report.recall:.3f}, ROC AUC {report.roc_auc:.3f}")
    console.print(f"saved {report.model} (report beside it); tag with --scorer fasttext:{report.model}")


def register(root: typer.Typer) -> None:
    """Add `toxmix classifiers ...` to the root app."""
    root.add_typer(app, name="classifiers")
