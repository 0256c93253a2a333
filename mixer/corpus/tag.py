"""`toxmix tag`: score every document of the chosen sources with each scorer, one attribute table each."""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from toxmix.classifiers.spec import ScorerSpec, build_scorer
from toxmix.classifiers.step import ScoreDocuments
from toxmix.core.errors import ToxmixError
from toxmix.core.files import write_json
from toxmix.core.locks import writers
from toxmix.mixer.corpus.executors import ExecutorConfig, Submitted
from toxmix.mixer.corpus.readers.shards import StoreShardReader
from toxmix.mixer.corpus.store import FIELDS_SCORER, CorpusLayout, check_name
from toxmix.mixer.corpus.writers.attributes import WriteAttributes


@dataclass
class TagSummary:
    """What a tagging run wrote."""

    scorers: dict[str, dict]
    shards: int
    documents: int
    logging_dir: str
    skipped_tasks: int = 0
    already_tagged: list[str] = field(default_factory=list)  # sources every scorer had scored with this model


def is_tagged(layout: CorpusLayout, source: str, scorer: str, meta: dict) -> bool:
    """Whether the scorer's table covers every shard of the source, written by the same model and labels."""
    finished = layout.scorer_record(scorer).get(source)
    if not finished or (finished["version"], finished["labels"]) != (meta["version"], meta["labels"]):
        return False
    return len(list(layout.attributes(scorer, source).glob("*.parquet"))) == len(layout.shards(source))


def tag(corpus: str, specs: list[str], sources: list[str] | None, executor: ExecutorConfig, retag: bool = False,
        wait: bool = False) -> TagSummary | Submitted:
    """Tag the corpus; re-running after a crash finishes only the shards that are missing.

    Sources every scorer already covers with the same model are skipped unless `retag`. One tag per scorer table
    at a time: another is refused, or waits with `wait` (on Slurm the lock covers the submission, not the jobs).
    On Slurm the tasks and the job that records the tables after them are submitted, and that is returned.
    """
    layout = CorpusLayout.at(corpus, must_exist=True)
    if not specs:
        raise ToxmixError("no --scorer given; e.g. --scorer fasttext:models/toxicity.bin "
                          "(train one with 'toxmix classifiers train-fasttext')")
    parsed = [ScorerSpec.parse(s) for s in specs]
    known = layout.sources()
    chosen = sorted(set(sources)) if sources else known
    for s in chosen:
        if s not in known:
            raise ToxmixError(f"unknown source {s!r} in {layout.root} (sources: {', '.join(known) or 'none yet'})")
    if not chosen:
        raise ToxmixError(f"corpus {layout.root} has no sources yet; add one with 'toxmix ingest'")

    scorers = {}
    for spec in parsed:
        scorer = build_scorer(spec)
        check_name("scorer", scorer.name)
        if scorer.name in scorers or scorer.name == FIELDS_SCORER:
            raise ToxmixError(f"two scorers would write the table {scorer.name!r}; give one a name=... option")
        scorers[scorer.name] = {"spec": str(spec), "version": scorer.version, "labels": scorer.labels}
    locks = [(layout.lock("tag", name), f"scorer table {name!r}") for name in scorers]
    with writers(locks, wait):
        done = [] if retag else [s for s in chosen if all(is_tagged(layout, s, n, m) for n, m in scorers.items())]
        todo = [s for s in chosen if s not in done]
        if not todo:
            return TagSummary(scorers, 0, 0, "", 0, already_tagged=done)
        summary = _tag(layout, parsed, scorers, todo, executor, retag)
        if isinstance(summary, TagSummary):
            summary.already_tagged = done
        return summary


def _tag(layout: CorpusLayout, parsed: list[ScorerSpec], scorers: dict[str, dict], chosen: list[str],
         executor: ExecutorConfig, retag: bool) -> TagSummary | Submitted:
    shards = [str(p.relative_to(layout.root)) for s in chosen for p in layout.shards(s)]
    key = hashlib.sha256(json.dumps([scorers, shards], sort_keys=True).encode()).hexdigest()[:16]
    logging_dir = layout.logs("tag", key)
    logging_dir.mkdir(parents=True, exist_ok=True)
    paths_file = logging_dir / "shards.txt"
    paths_file.write_text("".join(f"{s}\n" for s in shards))
    completions = logging_dir / "completions"
    for rank, shard in enumerate(shards):
        _, source, name = Path(shard).parts
        if retag or not all((layout.attributes(n, source) / name).is_file() for n in scorers):
            (completions / f"{rank:05d}").unlink(missing_ok=True)  # a marker is no proof: redo what is not there
    done_before = len(list(completions.glob("*"))) if completions.is_dir() else 0

    pipeline = [
        StoreShardReader(str(layout.root), paths_file=str(paths_file), batch_size=4096),
        *[ScoreDocuments(spec, progress=executor.kind == "local" and executor.workers == 1 and i == 0)
          for i, spec in enumerate(parsed)],
        WriteAttributes(str(layout.root), shards, {n: m["labels"] for n, m in scorers.items()}),
    ]
    submitted = executor.run(pipeline, len(shards), logging_dir, "toxmix-tag",
                             then=RecordTagged(str(layout.root), scorers, chosen))
    if isinstance(submitted, Submitted):
        return submitted
    documents = sum(json.loads(layout.source_meta(s).read_text())["documents"] for s in chosen)
    return TagSummary(scorers, len(shards), documents, str(logging_dir), done_before)


@dataclass(frozen=True)
class RecordTagged:
    """Tag's last step, once every shard is scored: record in each scorer's table which model scored the
    sources (in this process, or as the job that follows the tasks on a cluster)."""

    corpus: str
    scorers: dict[str, dict]
    sources: list[str]

    def __call__(self) -> None:
        layout = CorpusLayout.at(self.corpus)
        for name, meta in self.scorers.items():
            record = layout.scorer_record(name)
            record.update({s: meta for s in self.sources})
            write_json(layout.scorer_meta(name), record)
