"""The child of `run_bounded` (`python -m toxmix.mixer.corpus.query_child`): one confined query under its limits,
its answer on stdout."""

import contextlib
import json
import os
import sys

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from toxmix.core.errors import ToxmixError
from toxmix.mixer.corpus.bounded import Limits, cap_address_space
from toxmix.mixer.corpus.catalog import bounded, open_catalog


def _plain_integers(table: pa.Table) -> pa.Table:
    """DuckDB hands HUGEINT sums and counts to Arrow as decimal128(38, 0): integers they are, where they fit."""
    for i, field in enumerate(table.schema):
        if pa.types.is_decimal(field.type) and field.type.scale == 0:
            with contextlib.suppress(pa.ArrowInvalid):  # beyond 64 bits: left as decimals
                table = table.set_column(i, field.name, pc.cast(table.column(i), pa.int64()))
    return table


def _answer(request: dict) -> bytes:
    """In the child: b"A" + the result as Arrow IPC, b"E" + a one-line error, or b"M" (out of memory)."""
    limits = Limits(**request["limits"])
    cap_address_space(limits)
    try:
        con = open_catalog(request["corpus"], limits.memory_limit, limits.spill_limit)
        with bounded(con, None):
            rel = con.sql(request["sql"])
            max_rows = request.get("max_rows")
            table = _plain_integers((rel.limit(max_rows) if max_rows is not None else rel).to_arrow_table())
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return b"A" + sink.getvalue().to_pybytes()
    except ToxmixError as e:
        return b"E" + str(e).encode()
    except (MemoryError, duckdb.OutOfMemoryException, pa.ArrowMemoryError):
        return b"M"


def main() -> None:
    """The child: one request on stdin, one answer on stdout (anything else a library prints goes to stderr)."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    out.write(_answer(json.loads(sys.stdin.read())))
    out.flush()


if __name__ == "__main__":
    main()
