"""Ingest's last stage: drop duplicate ids across all staged shards and publish the final shards."""

from contextlib import ExitStack
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mixer.corpus.records import ORIGIN, RAW, Reason
from mixer.corpus.store import FIELDS_SCORER, CorpusLayout
from mixer.corpus.tables import REJECT_SCHEMA
from mixer.corpus.writers.parquet_shard import ParquetShard, write_table
from mixer.corpus.writers.staging import STAGED_ROW, staged_names


def duplicate_rows(staged: list[Path]) -> dict[str, dict[int, int]]:
    """Rows whose id already appeared earlier (by shard, then row): {shard file name: {staged row: input row}}."""
    if not staged:
        return {}
    con = duckdb.connect()
    files = [str(p) for p in staged]
    rows = con.execute(
        f"""
        SELECT filename, file_row_number, {STAGED_ROW} FROM (
            SELECT filename, file_row_number, {STAGED_ROW},
                   row_number() OVER (PARTITION BY id ORDER BY filename, file_row_number) AS k
            FROM read_parquet(?, filename=true, file_row_number=true)
        ) WHERE k > 1
        """,
        [files],
    ).fetchall()
    con.close()
    out: dict[str, dict[int, int]] = {}
    for filename, row, input_row in rows:
        out.setdefault(Path(filename).name, {})[row] = input_row
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


def _duplicate_rejects(table: pa.Table, source: str, file: str, offset: int, losers: dict[int, int],
                       raws: dict[int, bytes]) -> pa.Table:
    picked = [r - offset for r in sorted(losers) if offset <= r < offset + table.num_rows]
    sub = table.take(pa.array(picked, pa.int64())).to_pylist()
    rows = []
    for r in sub:
        row = r.pop(STAGED_ROW)
        raw = raws.get(row) or orjson.dumps(r, default=str)  # formats without record bytes: the record as JSON
        rows.append({"source": source, "reason": str(Reason.DUPLICATE_ID), "file": file, "row": row, "id": r["id"],
                     "raw": raw})
    return pa.Table.from_pylist(rows, schema=REJECT_SCHEMA)


def publish_shard(layout: CorpusLayout, source: str, rank: int, input_file: str, losers: dict[int, int],
                  keep_fields: tuple[str, ...], raws: dict[int, bytes]) -> None:
    """Write one task's final documents, kept-field attributes and rejects, each atomically."""
    docs_name, rejects_name = staged_names(rank)
    staging = layout.staging(source)
    final = f"{rank:05d}.parquet"
    staged = pq.ParquetFile(staging / docs_name)
    staged_schema = staged.schema_arrow
    docs_schema = staged_schema.remove(staged_schema.get_field_index(STAGED_ROW))
    field_cols = ["id", "source", *keep_fields]
    dup_tables = [pq.read_table(staging / rejects_name)]
    loser_ids = pa.array(sorted(losers), pa.int64())
    with ExitStack() as stack:
        docs = stack.enter_context(ParquetShard(layout.documents(source) / final, docs_schema))
        fields = None
        if keep_fields:
            schema = pa.schema([staged_schema.field(c) for c in field_cols])
            fields = stack.enter_context(ParquetShard(layout.attributes(FIELDS_SCORER, source) / final, schema))
        offset = 0
        for batch in staged.iter_batches(batch_size=8192):
            table = pa.Table.from_batches([batch])
            if losers:
                positions = pa.array(range(offset, offset + table.num_rows), pa.int64())
                dup_tables.append(_duplicate_rejects(table, source, input_file, offset, losers, raws))
                table = table.filter(pc.invert(pc.is_in(positions, value_set=loser_ids)))
            docs.write(table.drop_columns([STAGED_ROW]))
            if fields:
                fields.write(table.select(field_cols))
            offset += batch.num_rows
    write_table(layout.rejected(source) / final, pa.concat_tables(dup_tables))


def finalize_source(layout: CorpusLayout, source: str, inputs: list[str], keep_fields: tuple[str, ...],
                    reader=None, reader_paths: list[str] | None = None) -> None:
    """Publish every task's shards (task i read inputs[i]); safe to re-run after a crash, with the same bytes.

    `reader` and `reader_paths` (input i as the reader names it) let duplicate rejects keep their input bytes.
    """
    staging = layout.staging(source)
    staged = [staging / staged_names(rank)[0] for rank in range(len(inputs))]
    losers = duplicate_rows(staged)
    for rank, path in enumerate(staged):
        shard_losers = losers.get(path.name, {})
        filepath = reader_paths[rank] if reader_paths else None
        raws = original_bytes(reader, filepath, set(shard_losers.values()))
        publish_shard(layout, source, rank, filepath or inputs[rank], shard_losers, keep_fields, raws)
