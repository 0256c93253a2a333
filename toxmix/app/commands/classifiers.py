"""`toxmix classifiers`: train scorers."""

from pathlib import Path
from typing import Annotated

import typer

from toxmix.core.console import out as console
from toxmix.core.console import print_table, progress

app = typer.Typer(help="Train toxicity scorers for 'toxmix tag'.", no_args_is_help=True)


@app.command("train-fasttext")
def train_fasttext_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to save the model (.bin, or .ftz with --quantize).")],
    data: Annotated[list[str] | None, typer.Option("--data", "-d", help="Labelled file or folder (.csv, .jsonl[.gz], .parquet, .txt); repeatable.")] = None,
    label_rule: Annotated[list[str] | None, typer.Option("--label-rule", "-r", help="FIELD=TOXIC/CLEAN per --data, in order (one rule applies to all): class=0,1/2, label=hate/noHate, file=hate_*/neutral_*.")] = None,
    text_field: Annotated[list[str] | None, typer.Option("--text-field", "-t", help="Text field per --data, in order; guessed (text, tweet, ...) by default.")] = None,
    recipe: Annotated[str | None, typer.Option(help="'study': Davidson 0,1/2 + Stormfront hate/noHate + ToxiGen hate/neutral from TOXMIX_SHARED.")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="With --recipe study: leave this dataset out (repeatable), e.g. toxigen for a scorer that evaluates ToxiGen prompts.")] = None,
    transfer: Annotated[bool, typer.Option(help="Also report leave-one-dataset-out and fortunes figures (trains one extra model per dataset).")] = True,
    bucket: Annotated[int, typer.Option(help="Hash buckets for word and character n-grams (Dolma: 2,000,000). They take room only with --word-ngrams 2+ or --maxn > 0 (then 4 x dim bytes each: ~800 MB at 2M and dim 100); with word unigrams, the default, the model is its vocabulary alone.")] = 2_000_000,
    dim: Annotated[int, typer.Option(help="Embedding dimension (Dolma: 100).")] = 100,
    word_ngrams: Annotated[int, typer.Option(help="Word n-grams: 1 transfers better across datasets (BENCHMARKS.md); Dolma uses 2.")] = 1,
    epoch: Annotated[int, typer.Option(help="Training epochs.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed for fastText and the held-out split.")] = 0,
    quantize: Annotated[bool, typer.Option(help="Quantize the model (save as .ftz) to shrink it.")] = False,
    minn: Annotated[int, typer.Option(help="Shortest character n-gram (0: none; the study recipe uses 0).")] = 0,
    maxn: Annotated[int, typer.Option(help="Longest character n-gram (0: none).")] = 0,
) -> None:
    """Train a toxicity fastText model (labels: toxic, clean) with Dolma's settings but word unigrams; report held-out
    quality, and
    how it transfers: trained without each dataset and tested on it, and tested on the shared fortunes.

    Example: toxmix classifiers train-fasttext --recipe study --out models/toxicity.bin;
    toxmix classifiers train-fasttext --recipe study --exclude toxigen --bucket 200000 --out models/no-toxigen.bin
    """
    from toxmix.classifiers.train_fasttext import FastTextParams, train_fasttext, training_sources

    sources = training_sources(recipe, tuple(exclude or ()), tuple(data or ()), tuple(label_rule or ()),
                               tuple(text_field or ()))
    params = FastTextParams(bucket=bucket, dim=dim, epoch=epoch, seed=seed, minn=minn, maxn=maxn,
                            word_ngrams=word_ngrams)
    report = train_fasttext(sources, str(out), params, quantize=quantize)
    for name, counts in report.per_source.items():
        console.print(f"{name}: {counts['toxic']:,} toxic, {counts['clean']:,} clean")
    size = Path(report.model).stat().st_size
    sized_by = "; --bucket sets most of it" if word_ngrams > 1 or maxn > 0 else ""
    console.print(f"saved {report.model} ({size / 1e6:,.1f} MB{sized_by}) with its report beside it; "
                  f"tag with --scorer fasttext:{report.model}")
    rows = [("in domain (held-out split)", ", ".join(report.datasets), f"{report.test_examples:,}", "",
             f"{report.roc_auc:.3f}", f"{report.precision:.3f}", f"{report.recall:.3f}", "")]
    if transfer:
        from toxmix.classifiers.transfer import transfer_report

        for r in transfer_report(sources, params, model=report.model):
            q = r.quality
            rows.append((r.test_set, ", ".join(r.trained_on), f"{q.examples:,}", f"{q.toxic:,}",
                         f"{q.roc_auc:.3f}" if q.roc_auc is not None else "n/a", f"{q.precision:.3f}",
                         f"{q.recall:.3f}", f"{q.f1:.3f}"))
    print_table("quality (threshold 0.5)", ["tested on", "trained on", "examples", "toxic", "ROC AUC", "precision",
                                            "recall", "F1"], rows, console)


@app.command("evaluate")
def evaluate_cmd(
    model: Annotated[str, typer.Argument(help="A scorer spec (fasttext:M.bin, detoxify:original, hf:DIR) or a fastText .bin/.ftz path.")],
    data: Annotated[str, typer.Option("--data", "-d", help="Labelled CSV, JSONL or Parquet file, or a folder of them.")],
    label_rule: Annotated[str, typer.Option("--label-rule", "-r", help="FIELD=TOXIC/CLEAN values, e.g. class=0,1/2 or offensive=True/False.")],
    text_field: Annotated[str | None, typer.Option("--text-field", "-t", help="Text field (guessed by default).")] = None,
    group_field: Annotated[str | None, typer.Option(help="Field to break results down by ('file' for file names).")] = None,
    label: Annotated[str | None, typer.Option(help="The scorer's label that means toxic (guessed: toxic, toxicity, hate, ...).")] = None,
    threshold: Annotated[float, typer.Option(help="Scores at or above this count as toxic for precision/recall/F1.")] = 0.5,
    out: Annotated[Path, typer.Option(help="Folder for evaluation.json and evaluation.png.")] = Path("scorer-eval"),
) -> None:
    """Measure a scorer on labelled data: ROC AUC, precision/recall/F1 at the threshold, per group, and a figure
    (score histograms by true label, calibration).

    Example: toxmix classifiers evaluate models/toxicity.bin --data ../shared/data/fortunes --label-rule offensive=True/False --group-field category
    """
    import json

    from toxmix.classifiers.evaluate import evaluate, load_labelled_set, plot_evaluation
    from toxmix.classifiers.spec import ScorerSpec, build_scorer
    from toxmix.core.files import write_json

    if ":" not in model and Path(model).suffix in (".bin", ".ftz"):
        model = f"fasttext:{model}"
    scorer = build_scorer(ScorerSpec.parse(model))
    labelled = load_labelled_set(data, label_rule, text_field, group_field)
    with progress(console, transient=True) as stages:
        ev = evaluate(scorer, labelled, label, threshold, on_batch=stages("scoring", len(labelled.texts)))

    def row(name, q):
        auc = f"{q.roc_auc:.3f}" if q.roc_auc is not None else "n/a"
        recall, f1 = (f"{q.recall:.3f}", f"{q.f1:.3f}") if q.toxic else ("n/a", "n/a")
        precision = f"{q.precision:.3f}" if q.flagged else "n/a"
        return (name, f"{q.examples:,}", f"{q.toxic:,}", f"{q.flagged:.3f}", auc, precision, recall, f1)

    cols = ["", "examples", "toxic", "flagged", "ROC AUC", "precision", "recall", "F1"]
    print_table(f"{ev.scorer} on {data} (label {ev.label}, threshold {threshold:g})", cols,
                [row("all", ev.overall)], console)
    if group_field:
        print_table(f"per {group_field}", cols, [row(g, q) for g, q in ev.per_group.items()], console)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "evaluation.json", json.loads(json.dumps(ev.to_dict())) | {"data": data, "rule": label_rule})
    plot_evaluation(ev, out / "evaluation.png", Path(data).name)
    console.print(f"wrote {out}/evaluation.json and {out}/evaluation.png")


def register(root: typer.Typer) -> None:
    """Add `toxmix classifiers ...` to the root app."""
    root.add_typer(app, name="classifiers")
