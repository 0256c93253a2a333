"""Ingest's last stage: drop duplicate ids across all staged shards and publish the final shards."""

import os
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from toxmix.mixer.corpus.records import ORIGIN, RAW, Reason
from toxmix.mixer.corpus.store import FIELDS_SCORER, CorpusLayout
from toxmix.mixer.corpus.tables import REJECT_SCHEMA
from toxmix.mixer.corpus.writers.parquet_shard import ParquetShard, write_table
from toxmix.mixer.corpus.writers.staging import STAGED_ROW, staged_names


def duplicate_rows(shards: list[Path]) -> dict[int, list[int]]:
    """Positions of rows whose id already appeared earlier (by task, then row): {task: [row in its shard]}."""
    if not shards:
        return {}
    con = duckdb.connect()
    files = [str(p) for p in shards]
    rows = con.execute(
        """
        SELECT list_position(?, filename) - 1 AS task, file_row_number FROM (
            SELECT filename, file_row_number, row_number() OVER (
                PARTITION BY id ORDER BY list_position(?, filename), file_row_number) AS k
            FROM read_parquet(?, filename=true, file_row_number=true)
        ) WHERE k > 1 ORDER BY task, file_row_number
        """,
        [files, files, files],
    ).fetchall()
    con.close()
    out: dict[int, list[int]] = {}
    for task, row in rows:
        out.setdefault(int(task), []).append(int(row))
    return out


def original_bytes(reader, filepath: str | None, rows: set[int]) -> dict[int, bytes]:
    """The input bytes of the given rows of one file, where its format keeps them (JSONL lines, CSV records)."""
    if reader is None or filepath is None or not rows or not hasattr(reader, "read_records"):
        return {}
    found: dict[int, bytes] = {}
    for doc in reader.read_records(filepath):
        row = doc.metadata[ORIGIN][1]
        if row in rows and doc.metadata.get(RAW) is not None:
            found[row] = bytes(doc.metadata[RAW])
            if len(found) == len(rows):
                break
    return found


def _duplicate_rejects(docs: pa.Table, input_rows: list[int], source: str, file: str,
                       raws: dict[int, bytes]) -> pa.Table:
    rows = []
    for r, row in zip(docs.to_pylist(), input_rows, strict=True):
        raw = raws.get(row) or orjson.dumps(r, default=str)  # formats without record bytes: the record as JSON
        rows.append({"source": source, "reason": str(Reason.DUPLICATE_ID), "file": file, "row": row, "id": r["id"],
                     "raw": raw})
    return pa.Table.from_pylist(rows, schema=REJECT_SCHEMA)


class StagedShard:
    """One task's staged files and the final shards they become."""

    def __init__(self, layout: CorpusLayout, source: str, rank: int):
        docs, rejects, rows = staged_names(rank)
        staging = layout.staging(source)
        self.docs, self.rejects, self.rows = staging / docs, staging / rejects, staging / rows
        final = f"{rank:05d}.parquet"
        self.final_docs = layout.documents(source) / final
        self.final_rejects = layout.rejected(source) / final
        self.final_fields = layout.attributes(FIELDS_SCORER, source) / final

    @property
    def documents(self) -> Path:
        """Its documents as they are now: staged, or already published by a rename."""
        return self.docs if self.docs.is_file() else self.final_docs


def input_rows(shard: StagedShard, positions: list[int]) -> list[int]:
    """The input-file rows of the staged documents at these positions."""
    rows = pq.read_table(shard.rows).column(STAGED_ROW)
    return rows.take(pa.array(positions, pa.int64())).to_pylist()


def _batches_without(parquet: pq.ParquetFile, losers: list[int], columns: list[str] | None = None):
    """(offset, batch as read, batch without the losers' rows) for each batch of the file, in order."""
    loser_ids = pa.array(losers, pa.int64())
    offset = 0
    for batch in parquet.iter_batches(batch_size=8192, columns=columns):
        table = pa.Table.from_batches([batch])
        positions = pa.array(range(offset, offset + table.num_rows), pa.int64())
        yield offset, table, table.filter(pc.invert(pc.is_in(positions, value_set=loser_ids))) if losers else table
        offset += table.num_rows


def publish_shard(shard: StagedShard, source: str, input_file: str, losers: dict[int, int],
                  keep_fields: tuple[str, ...], raws: dict[int, bytes]) -> None:
    """Publish one task's documents, kept-field attributes and rejects, each atomically and idempotently: a shard
    without duplicates is renamed into place; one with duplicates is written without them.

    `losers`: the positions of its duplicate rows, each with its row in the input file."""
    positions = sorted(losers)
    if keep_fields:  # from the documents as published, so a re-run writes the same bytes
        source_docs = pq.ParquetFile(shard.documents)
        schema = pa.schema([source_docs.schema_arrow.field(c) for c in ("id", "source", *keep_fields)])
        with ParquetShard(shard.final_fields, schema) as fields:
            for _, _, kept in _batches_without(source_docs, positions, schema.names):
                fields.write(kept)
    if not losers:
        if shard.rejects.is_file():
            os.replace(shard.rejects, shard.final_rejects)
        if shard.docs.is_file():
            shard.final_docs.parent.mkdir(parents=True, exist_ok=True)
            os.replace(shard.docs, shard.final_docs)
        return
    staged = pq.ParquetFile(shard.docs)  # never renamed: it has duplicates
    dup_tables = [pq.read_table(shard.rejects)]
    with ParquetShard(shard.final_docs, staged.schema_arrow) as docs:
        for offset, table, kept in _batches_without(staged, positions):
            mine = [r for r in positions if offset <= r < offset + table.num_rows]
            if mine:
                dup_tables.append(_duplicate_rejects(table.take(pa.array([r - offset for r in mine], pa.int64())),
                                                     [losers[r] for r in mine], source, input_file, raws))
            docs.write(kept)
    write_table(shard.final_rejects, pa.concat_tables(dup_tables))


def finalize_source(layout: CorpusLayout, source: str, inputs: list[str], keep_fields: tuple[str, ...],
                    reader=None, reader_paths: list[str] | None = None) -> None:
    """Publish every task's shards (task i read inputs[i]); safe to re-run after a crash, with the same bytes.

    `reader` and `reader_paths` (input i as the reader names it) let duplicate rejects keep their input bytes.
    """
    shards = [StagedShard(layout, source, rank) for rank in range(len(inputs))]
    losers = duplicate_rows([s.documents for s in shards])
    layout.rejected(source).mkdir(parents=True, exist_ok=True)
    for rank, shard in enumerate(shards):
        positions = losers.get(rank, [])
        shard_losers = dict(zip(positions, input_rows(shard, positions), strict=True)) if positions else {}
        filepath = reader_paths[rank] if reader_paths else None
        raws = original_bytes(reader, filepath, set(shard_losers.values()))
        publish_shard(shard, source, filepath or inputs[rank], shard_losers, keep_fields, raws)
