"""`toxmix ingest`: read raw documents into the corpus store, counting tokens and keeping every reject."""

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from toxmix.core.errors import ToxmixError
from toxmix.core.files import write_json
from toxmix.core.locks import one_writer
from toxmix.core.settings import DEFAULT_TOKENIZER
from toxmix.core.tokenizer import tokenizer_info
from toxmix.mixer.corpus.catalog import sql_literal
from toxmix.mixer.corpus.executors import ExecutorConfig, Submitted
from toxmix.mixer.corpus.finalize import finalize_source
from toxmix.mixer.corpus.inputs import expand_inputs, fingerprint, input_root, relative_to
from toxmix.mixer.corpus.readers import FORMATS, build_reader
from toxmix.mixer.corpus.steps.count_tokens import CountTokens
from toxmix.mixer.corpus.store import CorpusLayout, check_name
from toxmix.mixer.corpus.writers.staging import StageShards

VERSION = 1


@dataclass
class IngestConfig:
    """One ingest run: which inputs become which source, and how records map to documents."""

    source: str
    paths: list[str]
    corpus: str
    format: str | None = None
    text_field: str = "text"
    id_field: str | None = "id"
    keep_fields: tuple[str, ...] = ()
    tokenizer: str = DEFAULT_TOKENIZER
    hf_split: str = "train"
    hf_subset: str | None = None

    def __post_init__(self) -> None:
        check_name("source", self.source)
        if not self.paths:
            raise ToxmixError("give at least one input path")
        if self.format is not None and self.format not in FORMATS:
            raise ToxmixError(f"unknown --format {self.format!r}; use one of: {', '.join(FORMATS)}")


@dataclass
class IngestSummary:
    """What an ingest run did: records in, stored, rejected by reason, tokens and bytes."""

    source: str
    records_in: int
    stored: int
    rejected: dict[str, int]
    tokens: int
    bytes: int
    files: int
    resumed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def _clear_source(layout: CorpusLayout, source: str) -> None:
    for path in (layout.documents(source), layout.rejected(source), layout.staging(source),
                 layout.logs("ingest", source)):
        shutil.rmtree(path, ignore_errors=True)
    if layout.attributes_root.is_dir():
        for scorer in layout.attributes_root.iterdir():
            shutil.rmtree(scorer / source, ignore_errors=True)
    layout.source_meta(source).unlink(missing_ok=True)


def summarize(layout: CorpusLayout, source: str) -> IngestSummary:
    """Count what the store holds for a source, and what its ingest read, and check they add up."""
    con = duckdb.connect()
    docs = str(layout.documents(source) / "*.parquet")
    rej = str(layout.rejected(source) / "*.parquet")
    stored, tokens, nbytes, files = con.execute(
        f"SELECT count(*), coalesce(sum(n_tokens), 0), coalesce(sum(n_bytes), 0), count(DISTINCT filename) "
        f"FROM read_parquet({sql_literal(docs)}, filename=true, union_by_name=true)"
    ).fetchone()
    rejected = dict(con.execute(
        f"SELECT reason, count(*) FROM read_parquet({sql_literal(rej)}) GROUP BY reason ORDER BY reason"
    ).fetchall())
    con.close()
    stats_dir = layout.logs("ingest", source, "stats")
    records_in = 0
    for f in sorted(stats_dir.glob("*.json")):
        for step in json.loads(f.read_text()):
            stats = step.get("stats", {})
            if "stored" in stats or "rejected" in stats:
                records_in += _total(stats.get("stored")) + _total(stats.get("rejected"))
    return IngestSummary(source=source, records_in=records_in, stored=stored, rejected=rejected,
                         tokens=int(tokens), bytes=int(nbytes), files=files)


def _total(stat: dict | int | None) -> int:
    if stat is None:
        return 0
    return int(stat["total"]) if isinstance(stat, dict) else int(stat)


def ingest(cfg: IngestConfig, executor: ExecutorConfig, overwrite: bool = False,
           wait: bool = False) -> IngestSummary | Submitted:
    """Ingest the inputs as one source; re-running after a crash finishes only what is missing.

    One task per input file. On Slurm the tasks and the job that publishes the source after them are submitted
    and what was submitted is returned. One ingest of a source at a time: another is refused, or waits its turn
    with `wait` (on Slurm the lock covers the submission, not the jobs).
    """
    layout = CorpusLayout.at(cfg.corpus)
    with one_writer(layout.lock("ingest", cfg.source), f"source {cfg.source!r}", wait):
        return _ingest(cfg, executor, overwrite, layout)


def _ingest(cfg: IngestConfig, executor: ExecutorConfig, overwrite: bool,
            layout: CorpusLayout) -> IngestSummary | Submitted:
    fmt, inputs, skipped = expand_inputs(cfg.paths, cfg.format)
    if fmt == "hf" and executor.kind != "local":
        raise ToxmixError("--format hf reads one dataset in one task: ingest it with --executor local")
    skip_note = (f"skipped {len(skipped)} file(s) of no known format in the input folders: "
                 f"{', '.join(Path(s).name for s in skipped[:5])}{' ...' if len(skipped) > 5 else ''} "
                 "(name them with --format to read them)") if skipped else None
    tok = tokenizer_info(cfg.tokenizer)
    run = {"version": VERSION, "config": asdict(cfg) | {"paths": inputs, "format": fmt, "corpus": None},
           "inputs": fingerprint(inputs) if fmt != "hf" else inputs, "tokenizer": asdict(tok)}
    run = json.loads(json.dumps(run))  # as it reads back from run.json
    run_file = layout.logs("ingest", cfg.source, "run.json")
    meta_file = layout.source_meta(cfg.source)
    previous = json.loads(run_file.read_text()) if run_file.is_file() else None
    if previous is not None and previous != run:
        if not overwrite:
            raise ToxmixError(
                f"source {cfg.source!r} already exists in {layout.root} from other inputs or options; "
                "pass --overwrite to replace it (its attributes are removed too)"
            )
        _clear_source(layout, cfg.source)
        previous = None
    if previous is not None and meta_file.is_file():
        summary = summarize(layout, cfg.source)
        summary.resumed = True
        summary.notes.append("already ingested with these inputs and options; nothing to do")
        summary.notes += [skip_note] if skip_note else []
        return summary
    if overwrite and previous is None:
        _clear_source(layout, cfg.source)
    write_json(run_file, run)

    if fmt == "hf":
        root, paths_file, tasks = inputs[0], None, 1
    else:
        root = input_root(inputs)
        paths_file = layout.logs("ingest", cfg.source, "paths.txt")
        paths_file.write_text("".join(relative_to(f, root) + "\n" for f in inputs))
        paths_file = str(paths_file)
        tasks = len(inputs)
    local = executor.kind == "local"
    reader = build_reader(fmt, root, paths_file, cfg.text_field, cfg.id_field, cfg.keep_fields, cfg.hf_split,
                          cfg.hf_subset, progress=local and executor.workers == 1)
    pipeline = [
        reader,
        CountTokens(cfg.tokenizer),
        StageShards(str(layout.staging(cfg.source)), cfg.source, cfg.keep_fields),
    ]
    complete = CompleteIngest(str(layout.root), cfg, fmt, inputs, run, reader,
                              None if fmt == "hf" else [relative_to(f, root) for f in inputs])
    done = executor.run(pipeline, tasks, layout.logs("ingest", cfg.source), f"toxmix-ingest-{cfg.source}",
                        then=complete)
    if isinstance(done, Submitted):
        return done
    done.notes += [skip_note] if skip_note else []
    return done


@dataclass(frozen=True)
class CompleteIngest:
    """Ingest's last step, once every task has staged its shard: drop duplicate ids, publish, check the counts add
    up and record the source (in this process, or as the job that follows the tasks on a cluster)."""

    corpus: str
    cfg: IngestConfig
    fmt: str
    inputs: list[str]
    run: dict  # the run record: inputs' fingerprints and the tokenizer
    reader: object
    reader_paths: list[str] | None

    def __call__(self) -> IngestSummary:
        cfg, layout = self.cfg, CorpusLayout.at(self.corpus)
        finalize_source(layout, cfg.source, self.inputs, cfg.keep_fields, self.reader, self.reader_paths)
        summary = summarize(layout, cfg.source)
        if summary.records_in != summary.stored + summary.rejected_total:
            raise ToxmixError(
                f"ingest of {cfg.source!r} does not add up: {summary.records_in} in, {summary.stored} stored, "
                f"{summary.rejected_total} rejected; re-run with --overwrite"
            )
        write_json(layout.source_meta(cfg.source), {
            "source": cfg.source, "format": self.fmt, "inputs": self.run["inputs"], "text_field": cfg.text_field,
            "id_field": cfg.id_field, "keep_fields": list(cfg.keep_fields), "tokenizer": self.run["tokenizer"],
            "shards": len(self.inputs),
            "documents": summary.stored, "tokens": summary.tokens, "bytes": summary.bytes,
            "rejected": summary.rejected,
        })
        shutil.rmtree(layout.staging(cfg.source), ignore_errors=True)
        return summary
