"""Arrow schemas of the corpus store tables, and the typing of kept fields."""

from typing import Any

import orjson
import pyarrow as pa

DOCUMENT_COLUMNS = pa.schema([
    ("id", pa.string()), ("source", pa.string()), ("text", pa.string()),
    ("n_bytes", pa.int64()), ("n_tokens", pa.int64()),
])
REJECT_SCHEMA = pa.schema([
    ("source", pa.string()), ("reason", pa.string()), ("file", pa.string()),
    ("row", pa.int64()), ("id", pa.string()), ("raw", pa.binary()),
])


def field_type(value: Any) -> pa.DataType:
    """The column type a kept field gets from its first non-null value."""
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int | float):
        return pa.float64()
    return pa.string()


def coerce_field(value: Any, dtype: pa.DataType) -> Any:
    """Convert a kept field's value to its column type; raise ValueError where it cannot be."""
    if value is None:
        return None
    if dtype == pa.bool_():
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected a boolean, got {value!r}")
    if dtype == pa.float64():
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=str).decode()
    return str(value)


