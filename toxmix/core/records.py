"""Typed, versioned JSON records that stages hand each other (locks, run records, probe runs)."""

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from toxmix.core.errors import ToxmixError

M = TypeVar("M", bound=BaseModel)


class Frozen(BaseModel):
    """The base of records stages hand each other: unknown fields refused, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_record(path: Path, model: type[M], version: int, kind: str, remedy: str) -> M:
    """Parse a record file; refuse a missing file, another version, or a missing, unknown or invalid field in one
    line that names it and says what to do (`remedy`)."""
    if not path.is_file():
        raise ToxmixError(f"no {kind} {path}; {remedy}")
    try:
        raw = json.loads(path.read_text())
    except ValueError as e:
        raise ToxmixError(f"{path} is not JSON ({e}); {remedy}") from None
    found = raw.get("version") if isinstance(raw, dict) else None
    if found != version:
        shown = found if found is not None else "1 (unversioned)"
        raise ToxmixError(f"{path} is a {kind} of version {shown}; this toxmix reads version {version}: {remedy}")
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        what = {"missing": "is missing", "extra_forbidden": f"is not a {kind} field"}.get(
            err["type"], f"is invalid ({err['msg']})")
        raise ToxmixError(f"{path}: field {where} {what}; {remedy}") from None
