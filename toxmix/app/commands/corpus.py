"""The corpus store's commands: ingest, tag, sql, stats."""

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from toxmix.app.commands.options import CpusPerTaskOpt, ExecutorOpt, SlurmPartitionOpt, SlurmTimeOpt, executor_config
from toxmix.classifiers.spec import SPEC_HELP
from toxmix.core.console import err, out, print_table
from toxmix.core.errors import ToxmixError
from toxmix.core.settings import DEFAULT_TOKENIZER
from toxmix.mixer.corpus.executors import Submitted
from toxmix.mixer.corpus.store import CorpusLayout

SQL_FORMATS = ("table", "csv", "json", "parquet")
CorpusOpt = Annotated[Path, typer.Option("--corpus", "-c", help="Corpus directory (created by ingest).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show datatrove's task logs (always kept in CORPUS/logs/).")]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", help="Parallel worker processes (one task per input file); on Slurm or Ray, the most tasks at once. The tokenizer already uses every core, so on a machine with few cores 1 local worker is as fast or faster (2 workers measured 0.94x on 2 cores).")]


def _set_verbose(verbose: bool) -> None:
    """Pass --verbose to datatrove's task loggers, here and in worker processes (they read the environment)."""
    from toxmix.mixer.corpus.quiet import VERBOSE_ENV

    os.environ[VERBOSE_ENV] = "1" if verbose else "0"


def ingest(
    source: Annotated[str, typer.Argument(help="Name of the source, e.g. c4 or stormfront.")],
    paths: Annotated[list[str], typer.Argument(help="Input files or folders, local or as fsspec URLs (s3://bucket/c4/, hf://datasets/..., memory://...); or one hub id / folder with --format hf.")],
    corpus: CorpusOpt,
    format: Annotated[str | None, typer.Option("--format", "-f", help="jsonl|parquet|csv|warc|hf; guessed from file names by default.")] = None,
    text_field: Annotated[str, typer.Option(help="Field holding the document text.")] = "text",
    id_field: Annotated[str, typer.Option(help="Field holding a document id; documents without one get a content hash. Pass '' for always hashing.")] = "id",
    keep_field: Annotated[list[str] | None, typer.Option("--keep-field", "-k", help="Extra field to keep (repeatable); kept fields also become the 'fields' attribute table.")] = None,
    tokenizer: Annotated[str, typer.Option(help="Tokenizer for n_tokens: hub id, tokenizer.json or a folder.")] = DEFAULT_TOKENIZER,
    split: Annotated[str, typer.Option(help="Split to read with --format hf.")] = "train",
    subset: Annotated[str | None, typer.Option(help="Dataset config with --format hf, e.g. 'en' for allenai/c4.")] = None,
    workers: WorkersOpt = 1,
    executor: ExecutorOpt = "local",
    slurm_partition: SlurmPartitionOpt = None,
    slurm_time: SlurmTimeOpt = "24:00:00",
    cpus_per_task: CpusPerTaskOpt = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing source of this name.")] = False,
    wait: Annotated[bool, typer.Option(help="If another ingest is writing this source, wait for it instead of stopping.")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Read documents into the corpus store as SOURCE, counting tokens and keeping every rejected record.

    One task per input file; on Slurm, a job that drops duplicate ids and publishes the source follows them.

    Example: toxmix ingest c4 ../shared/data/c4/c4-validation-2k.parquet --corpus corpus

    On Slurm: toxmix ingest c4 s3://bucket/c4/en/ -c /shared/corpus --executor slurm --slurm-partition cpu --workers 256
    """
    from toxmix.mixer.corpus.ingest import IngestConfig
    from toxmix.mixer.corpus.ingest import ingest as run_ingest

    _set_verbose(verbose)

    cfg = IngestConfig(source=source, paths=list(paths), corpus=str(corpus), format=format,
                       text_field=text_field, id_field=id_field or None, keep_fields=tuple(keep_field or ()),
                       tokenizer=tokenizer, hf_split=split, hf_subset=subset)
    summary = run_ingest(cfg, executor_config(executor, workers, slurm_partition, slurm_time, cpus_per_task),
                         overwrite=overwrite, wait=wait)
    if isinstance(summary, Submitted):
        out.print(summary.describe("ingest"))
        out.print(f"source {source!r} appears in the corpus when that job has finished; it is resumable: run the "
                  "same command again to redo only tasks that failed")
        return
    table = Table(title=f"ingest {summary.source}", show_header=False)
    table.add_row("records in", f"{summary.records_in:,}")
    table.add_row("stored", f"{summary.stored:,}")
    for reason, n in summary.rejected.items():
        table.add_row(f"rejected: {reason}", f"{n:,}")
    table.add_row("tokens", f"{summary.tokens:,}")
    table.add_row("bytes", f"{summary.bytes:,}")
    out.print(table)
    for note in summary.notes:
        out.print(note)
    out.print(f"in = stored + rejected: {summary.records_in:,} = {summary.stored:,} + {summary.rejected_total:,}")


def tag(
    corpus: Annotated[Path, typer.Option("--corpus", "-c", help="Corpus directory.")],
    scorer: Annotated[list[str], typer.Option("--scorer", "-s", help=SPEC_HELP)],
    source: Annotated[list[str] | None, typer.Option("--source", help="Only these sources (repeatable); all by default.")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Parallel workers (one task per document shard); on Slurm or Ray, the most tasks at once.")] = 1,
    executor: ExecutorOpt = "local",
    slurm_partition: SlurmPartitionOpt = None,
    slurm_time: SlurmTimeOpt = "24:00:00",
    cpus_per_task: CpusPerTaskOpt = 1,
    retag: Annotated[bool, typer.Option(help="Score sources again although this model already scored them.")] = False,
    wait: Annotated[bool, typer.Option(help="If another tag is writing one of these tables, wait for it instead of stopping.")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Score every document with each scorer and write one attribute table per scorer.

    Only sources a scorer's table lacks are scored (same model, same labels); --retag scores them again.
    Resumable: after a killed run, run the same command again; only missing shards are redone.

    Example: toxmix tag --corpus corpus --scorer fasttext:models/toxicity.bin
    """
    from toxmix.mixer.corpus.tag import tag as run_tag

    _set_verbose(verbose)

    cfg = executor_config(executor, workers, slurm_partition, slurm_time, cpus_per_task)
    summary = run_tag(str(corpus), list(scorer), list(source or ()), cfg, retag=retag, wait=wait)
    if isinstance(summary, Submitted):
        out.print(summary.describe("tag"))
        return
    if summary.already_tagged:
        out.print(f"already tagged by this model: {', '.join(summary.already_tagged)} (--retag scores them again)")
    if not summary.shards:
        return
    for name, meta in summary.scorers.items():
        out.print(f"attributes_{name}: labels {', '.join(meta['labels'])} (version {meta['version']})")
    out.print(f"tagged {summary.documents:,} documents in {summary.shards} shards"
              + (f" ({summary.skipped_tasks} shards were already done)" if summary.skipped_tasks else ""))


def sql(
    query: Annotated[str, typer.Argument(help="One read-only DuckDB query over documents, docs, attributes_<scorer>, rejected.")],
    corpus: Annotated[Path, typer.Option("--corpus", "-c", help="Corpus directory.")],
    format: Annotated[str, typer.Option("--format", "-f", help=f"Output: {'|'.join(SQL_FORMATS)}.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write results to this file instead of stdout.")] = None,
    limit: Annotated[int, typer.Option(help="Most rows printed as a table.")] = 100,
    timeout: Annotated[float, typer.Option(help="Stop the query after this many seconds (0: no limit).")] = 300.0,
    memory_limit: Annotated[str, typer.Option(help="DuckDB's memory limit for the query.")] = "4GB",
    spill_limit: Annotated[str, typer.Option(help="Most disk the query may spill to (a private temporary folder).")] = "20GB",
) -> None:
    """Run SQL over the corpus catalog. Read-only: no writes, files, extensions or ATTACH; bounded in time,
    memory and spill.

    Views: documents (id, source, text, n_bytes, n_tokens, kept fields), attributes_<scorer> (id, source,
    one column per label), rejected (source, reason, file, row, id, raw), and docs: documents joined with
    every attribute table as a struct column, so `docs.fasttext_toxicity.toxic` is a score.

    Example: toxmix sql -c corpus "SELECT source, sum(n_tokens) FROM docs WHERE fasttext_toxicity.toxic > 0.5 GROUP BY source"
    """
    from toxmix.mixer.corpus.bounded import Limits, guarded, parse_size
    from toxmix.mixer.corpus.catalog import bounded, open_catalog
    from toxmix.mixer.corpus.sqlguard import confine_query

    if format not in SQL_FORMATS:
        raise ToxmixError(f"unknown --format {format!r}; use one of: {', '.join(SQL_FORMATS)}")
    if format == "parquet" and output is None:
        raise ToxmixError("--format parquet needs --output FILE")
    confine_query(query)
    limits = Limits(timeout or None, memory_limit, spill_limit)
    parse_size(spill_limit)
    for line in CorpusLayout.at(corpus, must_exist=True).incomplete_scorers():
        err.print(f"warning: {line}", highlight=False, soft_wrap=True)
    with guarded(limits):  # this process exists for the query: bounded itself, no child needed
        con = open_catalog(str(corpus), memory_limit, spill_limit)
        with bounded(con, limits.timeout):
            rel = con.sql(query)
            if format == "table" and output is None:  # rows straight from DuckDB: no pyarrow to load
                columns, rows = rel.columns, rel.limit(limit + 1).fetchall()
            else:
                table = rel.to_arrow_table()
    if format == "table" and output is None:
        print_table(None, columns, rows[:limit], out)
        if len(rows) > limit:
            out.print(f"(first {limit} rows; use --limit or --output for more)")
        return
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
    """Docs, tokens and bytes per source and per toxicity bucket; optional score histograms.

    Example: toxmix stats --corpus corpus --plots plots/
    """
    from toxmix.mixer.corpus.stats import corpus_stats, plot_histograms

    result = corpus_stats(str(corpus), score)
    for line in CorpusLayout.at(corpus).incomplete_scorers():
        err.print(f"warning: {line}", highlight=False, soft_wrap=True)
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
    app.command()(ingest)
    app.command()(tag)
    app.command()(sql)
    app.command()(stats)
