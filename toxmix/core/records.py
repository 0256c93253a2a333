"""Typed, versioned JSON records that stages hand each other (locks, run records, probe runs, eval results), and
the typed configs that stages run from (built by a command or from Python, validated the same way)."""

import json
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from toxmix.core.errors import ToxmixError
from toxmix.core.files import write_json

M = TypeVar("M", bound=BaseModel)


class Frozen(BaseModel):
    """The base of records stages hand each other: unknown fields refused, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Record(BaseModel):
    """A versioned record file: `write` it atomically, `read` it back refusing another version or a bad field.

    Subclasses set KIND ("run record"), VERSION and REMEDY (what to do when the file is refused), and a `version`
    field defaulting to VERSION.
    """

    model_config = ConfigDict(extra="forbid")
    KIND: ClassVar[str]
    VERSION: ClassVar[int]
    REMEDY: ClassVar[str]

    def write(self, path: str | Path) -> Path:
        """Write this record as JSON, atomically."""
        write_json(Path(path), self.model_dump(mode="json"))
        return Path(path)

    @classmethod
    def read(cls, path: str | Path) -> Self:
        """Parse a record file of this type (see `read_record`)."""
        return read_record(Path(path), cls, cls.VERSION, cls.KIND, cls.REMEDY)


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


class Config(BaseModel):
    """A stage's typed settings, validated when built: a command and the Python API get the same one-line error.

    A field is named in errors as its command-line option (`top_p` -> `--top-p`; FLAGS overrides), since that is
    how most users meet it; constraints are pydantic's (`Field(ge=1)`, `Literal[...]`) or `check()`'s.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    FLAGS: ClassVar[dict[str, str]] = {}

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise ToxmixError(self.explain(e)) from None
        self.check()

    def check(self) -> None:
        """Checks across fields; raise ToxmixError with a one-line message."""

    @classmethod
    def flag(cls, field: str) -> str:
        """How the command line spells a field."""
        return cls.FLAGS.get(field, "--" + field.replace("_", "-"))

    @classmethod
    def explain(cls, e: ValidationError) -> str:
        """The first problem of a validation error, in one line naming the option and the value given."""
        err = e.errors()[0]
        loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
        name = cls.flag(loc[-1]) if loc else cls.__name__
        if err["type"] == "missing":
            return f"{name} is required"
        if err["type"] == "extra_forbidden":
            return f"{name}: no such setting"
        msg = err["msg"].removeprefix("Value error, ")
        msg = msg[0].lower() + msg[1:] if msg else msg
        return f"{name} {err['input']!r}: {msg}" if "input" in err else f"{name}: {msg}"
