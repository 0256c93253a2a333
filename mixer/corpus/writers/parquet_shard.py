"""An atomic, deterministic Parquet shard: rows stream in, the file appears whole on close or never."""

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from toxmix.core.files import temp_path

# zstd level 1 writes 20,000 C4 documents in 0.14 s against 0.24 s at level 3, for files 12 % larger
WRITE_OPTIONS = {"compression": "zstd", "compression_level": 1, "use_dictionary": True, "write_statistics": True}


class ParquetShard:
    """Stream record batches into `path` through a hidden temp file renamed on close."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path = Path(path)
        self.schema = schema
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.path.parent.glob(f".{self.path.name}.tmp-*"):
            stale.unlink(missing_ok=True)  # left by a killed run
        self._tmp = temp_path(self.path)
        self._writer = pq.ParquetWriter(self._tmp, schema, **WRITE_OPTIONS)
        self.rows = 0

    def write(self, table: pa.Table | pa.RecordBatch) -> None:
        """Append rows (as one row group)."""
        if table.num_rows:
            if isinstance(table, pa.RecordBatch):
                table = pa.Table.from_batches([table])
            self._writer.write_table(table.cast(self.schema))
            self.rows += table.num_rows

    def close(self) -> None:
        """Finish the file and make it visible under its final name."""
        self._writer.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Drop the partial file."""
        self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "ParquetShard":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_table(path: Path, table: pa.Table) -> None:
    """Write a whole table atomically."""
    with ParquetShard(path, table.schema) as shard:
        shard.write(table)
