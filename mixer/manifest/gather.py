"""Materialize's one pass over the corpus: every selected document's text (and the attributes its transforms
read) written once, partitioned by the token shard that holds it, so that a shard reads only its own documents
and the total fetch work is one join, linear in the corpus, whatever the number of shards."""

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from toxmix.core.errors import ToxmixError
from toxmix.core.files import write_json
from toxmix.mixer.corpus.catalog import corpus_spill_dir, open_catalog, sql_literal
from toxmix.mixer.corpus.store import CorpusLayout
from toxmix.mixer.manifest.schema import Transform
from toxmix.mixer.manifest.transforms import attribute_parts

DONE = "gathered.json"  # written last, naming the shards the folder holds


@dataclass(frozen=True)
class Gather:
    """Gather the texts of the given shards ((index, first, last) selection positions) into `folder`."""

    corpus: str
    selection: str
    folder: str
    lock_digest: str
    shards: tuple[tuple[int, int, int], ...]
    transforms: tuple[Transform, ...]

    def __call__(self) -> None:
        wanted = {i for i, _, _ in self.shards}
        if not wanted or wanted <= gathered_shards(self.folder, self.lock_digest):
            return
        folder = Path(self.folder)
        tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        layout = CorpusLayout.at(self.corpus)
        with corpus_spill_dir(layout) as spill:
            con = open_catalog(self.corpus, spill_dir=spill)
            try:
                con.execute("CREATE TEMP TABLE bounds (shard INTEGER, first_pos BIGINT, last_pos BIGINT)")
                con.executemany("INSERT INTO bounds VALUES (?, ?, ?)", [list(s) for s in self.shards])
                written = con.execute(f"COPY ({self._sql()}) TO {sql_literal(str(tmp))} "
                                      "(FORMAT parquet, PARTITION_BY (shard), COMPRESSION zstd)").fetchall()[0][0]
            finally:
                con.close()
        expected = sum(last - first + 1 for _, first, last in self.shards)
        if written != expected:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ToxmixError(f"{expected - written} selected documents are missing from the corpus; resolve the "
                              "manifest again")
        write_json(tmp / DONE, {"lock": self.lock_digest, "shards": sorted(wanted)})
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)

    def _sql(self) -> str:
        joins, cols = [], []
        for i, t in enumerate(self.transforms):
            scorer, label = attribute_parts(t)
            joins.append(f"LEFT JOIN attributes_{scorer} AS t{i} ON t{i}.source = s.source AND t{i}.id = s.id")
            cols.append(f', t{i}."{label}" AS t{i}')
        return (
            f"SELECT b.shard, s.pos, s.component, s.source, s.id, s.tokens, d.text{''.join(cols)} "
            f"FROM read_parquet({sql_literal(self.selection)}) AS s "
            "ASOF JOIN bounds AS b ON s.pos >= b.first_pos "
            "JOIN documents AS d ON d.source = s.source AND d.id = s.id "
            + "".join(j + " " for j in joins)
            + "WHERE s.pos <= b.last_pos"
        )


def gathered_shards(folder: str, lock_digest: str) -> set[int]:
    """The shards a finished gather for this lock left in the folder."""
    try:
        done = json.loads((Path(folder) / DONE).read_text())
    except (OSError, ValueError):
        return set()
    return set(done["shards"]) if done.get("lock") == lock_digest else set()


def read_gathered(folder: str, lock_digest: str, index: int, first: int, last: int) -> pa.Table:
    """One shard's gathered rows in selection order; every position from first to last must be there."""
    path = Path(folder) / f"shard={index}"
    if index not in gathered_shards(folder, lock_digest):
        raise ToxmixError(f"the gathered texts of shard {index} are missing from {folder}; run materialize again "
                          "to gather them")
    try:
        files = sorted(path.glob("*.parquet"))
        rows = pa.concat_tables([pq.read_table(f) for f in files]).sort_by("pos") if files else None
    except (OSError, pa.ArrowException):
        rows = None
    if rows is None or not np.array_equal(rows["pos"].to_numpy(), np.arange(first, last + 1)):
        (Path(folder) / DONE).unlink(missing_ok=True)  # never trusted again: the next run gathers afresh
        raise ToxmixError(f"the gathered texts of shard {index} in {folder} are incomplete or damaged; run "
                          "materialize again to gather them afresh")
    return rows
