"""Ingest's last stage: drop duplicate ids across all staged shards and publish the final shards."""

from contextlib import ExitStack
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mixer.corpus.records import Reason
from mixer.corpus.store import FIELDS_SCORER, CorpusLayout
from mixer.corpus.tables import REJECT_SCHEMA
from mixer.corpus.writers.parquet_shard import ParquetShard, write_table
from mixer.corpus.writers.staging import staged_names


def duplicate_rows(staged: list[Path]) -> dict[str, set[int]]:
    """Rows whose id already appeared earlier (by shard, then row): {shard file name: {row, ...}}."""
    if not staged:
        return {}
    con = duckdb.connect()
    files = [str(p) for p in staged]
    rows = con.execute(
        """
        SELECT filename, file_row_number FROM (
            SELECT filename, file_row_number,
                   row_number() OVER (PARTITION BY id ORDER BY filename, file_row_number) AS k
            FROM read_parquet(?, filename=true, file_row_number=true)
        ) WHERE k > 1
        """,
        [files],
    ).fetchall()
    con.close()
    out: dict[str, set[int]] = {}
    for filename, row in rows:
        out.setdefault(Path(filename).name, set()).add(row)
    return out


def _duplicate_rejects(table: pa.Table, source: str, file: str, offset: int, rows: set[int]) -> pa.Table:
    picked = [r - offset for r in sorted(rows) if offset <= r < offset + table.num_rows]
    sub = table.take(pa.array(picked, pa.int64())).to_pylist()
    return pa.Table.from_pylist(
        [{"source": source, "reason": str(Reason.DUPLICATE_ID), "file": file, "row": None, "id": r["id"],
          "raw": orjson.dumps(r, default=str)} for r in sub],
        schema=REJECT_SCHEMA,
    )


def publish_shard(layout: CorpusLayout, source: str, rank: int, input_file: str, losers: set[int],
                  keep_fields: tuple[str, ...]) -> None:
    """Write one task's final documents, kept-field attributes and rejects, each atomically."""
    docs_name, rejects_name = staged_names(rank)
    staging = layout.staging(source)
    final = f"{rank:05d}.parquet"
    staged = pq.ParquetFile(staging / docs_name)
    field_cols = ["id", "source", *keep_fields]
    dup_tables = [pq.read_table(staging / rejects_name)]
    loser_ids = pa.array(sorted(losers), pa.int64())
    with ExitStack() as stack:
        docs = stack.enter_context(ParquetShard(layout.documents(source) / final, staged.schema_arrow))
        fields = None
        if keep_fields:
            schema = pa.schema([staged.schema_arrow.field(c) for c in field_cols])
            fields = stack.enter_context(ParquetShard(layout.attributes(FIELDS_SCORER, source) / final, schema))
        offset = 0
        for batch in staged.iter_batches(batch_size=8192):
            table = pa.Table.from_batches([batch])
            if losers:
                positions = pa.array(range(offset, offset + table.num_rows), pa.int64())
                dup_tables.append(_duplicate_rejects(table, source, input_file, offset, losers))
                table = table.filter(pc.invert(pc.is_in(positions, value_set=loser_ids)))
            docs.write(table)
            if fields:
                fields.write(table.select(field_cols))
            offset += batch.num_rows
    write_table(layout.rejected(source) / final, pa.concat_tables(dup_tables))


def finalize_source(layout: CorpusLayout, source: str, inputs: list[str], keep_fields: tuple[str, ...]) -> None:
    """Publish every task's shards (task i read inputs[i]); safe to re-run after a crash, with the same bytes."""
    staging = layout.staging(source)
    staged = [staging / staged_names(rank)[0] for rank in range(len(inputs))]
    losers = duplicate_rows(staged)
    for rank, path in enumerate(staged):
        publish_shard(layout, source, rank, inputs[rank], losers.get(path.name, set()), keep_fields)
