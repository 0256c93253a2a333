"""Corpus commands: tag, sql, stats."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from classifiers.spec import SPEC_HELP
from mixer.errors import ToxmixError
from mixer.executors import EXECUTORS, ExecutorConfig

SQL_FORMATS = ("table", "csv", "json", "parquet")


def print_table(title: str | None, columns: list[str], rows: list[tuple], console) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else "" if v is None else str(v) for v in row))
    console.print(table)


def tag(
    corpus: Annotated[Path, typer.Option("--corpus", "-c", help="Corpus directory.")],
    scorer: Annotated[list[str], typer.Option("--scorer", "-s", help=SPEC_HELP)],
    source: Annotated[list[str] | None, typer.Option("--source", help="Only these sources (repeatable); all by default.")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Parallel workers (one task per document shard).")] = 1,
    executor: Annotated[str, typer.Option(help=f"Where to run: {'|'.join(EXECUTORS)}.")] = "local",
    slurm_partition: Annotated[str | None, typer.Option(help="Slurm partition (with --executor slurm).")] = None,
    slurm_time: Annotated[str, typer.Option(help="Slurm time limit per job.")] = "24:00:00",
) -> None:
    """Score every document with each scorer and write one attribute table per scorer.

    Resumable: after a killed run, run the same command again; only missing shards are redone.

    Example: toxmix tag --corpus corpus --scorer fasttext:models/toxicity.bin
    """
    from mixer.cli import out
    from mixer.tag import tag as run_tag

    cfg = ExecutorConfig(kind=executor, workers=workers, slurm_partition=slurm_partition, slurm_time=slurm_time)
    summary = run_tag(str(corpus), list(scorer), list(source or ()), cfg)
    for name, meta in summary.scorers.items():
        out.print(f"attributes_{name}: labels {', '.join(meta['labels'])} (version {meta['version']})")
    if executor == "local":
        out.print(f"tagged {summary.documents:,} documents in {summary.shards} shards"
                  + (f" ({summary.skipped_tasks} shards were already done)" if summary.skipped_tasks else ""))
    else:
        out.print(f"submitted {summary.shards} tasks to {executor}; logs in {summary.logging_dir}")


def sql(
    query: Annotated[str, typer.Argument(help="One read-only DuckDB query over documents, docs, attributes_<scorer>, rejected.")],
    corpus: Annotated[Path, typer.Option("--corpus", "-c", help="Corpus directory.")],
    format: Annotated[str, typer.Option("--format", "-f", help=f"Output: {'|'.join(SQL_FORMATS)}.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write results to this file instead of stdout.")] = None,
    limit: Annotated[int, typer.Option(help="Most rows printed as a table.")] = 100,
) -> None:
    """Run SQL over the corpus catalog. Read-only: no writes, files, extensions or ATTACH.

    Views: documents (id, source, text, n_bytes, n_tokens, kept fields), attributes_<scorer> (id, source,
    one column per label), rejected (source, reason, file, row, id, raw), and docs: documents joined with
    every attribute table as a struct column, so `docs.fasttext_toxicity.toxic` is a score.

    Example: toxmix sql -c corpus "SELECT source, sum(n_tokens) FROM docs WHERE fasttext_toxicity.toxic > 0.5 GROUP BY source"
    """
    from mixer.catalog import run_query
    from mixer.cli import out

    if format not in SQL_FORMATS:
        raise ToxmixError(f"unknown --format {format!r}; use one of: {', '.join(SQL_FORMATS)}")
    if format == "parquet" and output is None:
        raise ToxmixError("--format parquet needs --output FILE")
    rel = run_query(str(corpus), query)
    if format == "table" and output is None:
        rows = rel.limit(limit + 1).fetchall()
        print_table(None, rel.columns, rows[:limit], out)
        if len(rows) > limit:
            out.print(f"(first {limit} rows; use --limit or --output for more)")
        return
    table = rel.to_arrow_table()
    if format == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, output)
        return
    if format == "csv":
        import pyarrow.csv as pacsv

        target = output or sys.stdout.buffer
        pacsv.write_csv(table, target)
        return
    lines = "".join(json.dumps(r, default=str) + "\n" for r in table.to_pylist())
    if output:
        output.write_text(lines)
    else:
        sys.stdout.write(lines)


def stats(
    corpus: Annotated[Path, typer.Option("--corpus", "-c", help="Corpus directory.")],
    score: Annotated[str | None, typer.Option(help="Score to bucket by, as SCORER.LABEL; the first toxicity label by default.")] = None,
    plots: Annotated[Path | None, typer.Option(help="Write score histograms (PNG) to this folder.")] = None,
) -> None:
    """Docs, tokens and bytes per source and per toxicity bucket; optional score histograms."""
    from mixer.cli import out
    from mixer.stats import corpus_stats, plot_histograms

    result = corpus_stats(str(corpus), score)
    print_table("per source", *result.per_source, out)
    if result.per_bucket:
        print_table(f"per bucket of {result.score_column}", *result.per_bucket, out)
    else:
        out.print("no scorer tagged yet: run 'toxmix tag' for per-bucket counts")
    if plots:
        for path in plot_histograms(str(corpus), str(plots)):
            out.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add the corpus commands to the root app."""
    app.command()(tag)
    app.command()(sql)
    app.command()(stats)
