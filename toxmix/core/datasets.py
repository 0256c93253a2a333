"""Labelled data every stage reads: files of records plus a rule that maps a field to toxic or clean (scorer
training, probes, held-out text), and the study's file conventions (ToxiGen's groups)."""

import csv
import fnmatch
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow.parquet as pq
from datatrove.io import get_datafolder

from toxmix.core.errors import ToxmixError

TOXIC, CLEAN = "toxic", "clean"
TEXT_FIELDS = ("text", "tweet", "sentence", "comment_text", "prompt")


@dataclass(frozen=True)
class LabelRule:
    """`FIELD=TOXIC_VALUES/CLEAN_VALUES`; values are comma-separated globs; FIELD `file` matches file names."""

    field: str
    toxic: tuple[str, ...]
    clean: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> "LabelRule":
        """Parse e.g. `class=0,1/2`, `label=hate/noHate` or `file=hate_*/neutral_*`."""
        field, eq, values = text.partition("=")
        toxic, slash, clean = values.partition("/")
        if not eq or not slash or not field.strip() or not toxic or not clean:
            raise ToxmixError(
                f"bad --label-rule {text!r}: write FIELD=TOXIC_VALUES/CLEAN_VALUES, e.g. class=0,1/2 or "
                "file=hate_*/neutral_*"
            )
        split = lambda s: tuple(v.strip() for v in s.split(",") if v.strip())  # noqa: E731
        return cls(field.strip(), split(toxic), split(clean))

    def label(self, value: object) -> str | None:
        """toxic, clean, or None when the value matches neither side."""
        if value is None:
            return None
        text = str(value)
        if isinstance(value, float) and value.is_integer():
            text = str(int(value))
        if any(fnmatch.fnmatchcase(text, p) for p in self.toxic):
            return TOXIC
        if any(fnmatch.fnmatchcase(text, p) for p in self.clean):
            return CLEAN
        return None


def read_records(path: Path) -> Iterator[dict]:
    """The records of one labelled file (CSV, JSONL, Parquet, or TXT with one example per line)."""
    name = path.name.lower()
    folder = get_datafolder(str(path.parent))
    if ".parquet" in name:
        yield from pq.read_table(path).to_pylist()
    elif ".csv" in name:
        with folder.open(path.name, "rb", compression="infer") as raw:
            yield from csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=""))
    elif ".json" in name:
        with folder.open(path.name, "rb", compression="infer") as f:
            for line in f:
                if line.strip():
                    yield orjson.loads(line)
    elif name.endswith(".txt"):
        # one example per line; ToxiGen prompt lines hold several "- sentence" items joined by a literal \n
        for line in path.read_text(encoding="utf-8").splitlines():
            for part in line.split("\\n"):
                part = part.strip().removeprefix("-").strip()
                if part:
                    yield {"text": part}
    else:
        raise ToxmixError(f"cannot read labelled data from {path}: use .csv, .jsonl(.gz), .parquet or .txt")


def expand_files(paths: list[str]) -> list[Path]:
    """Files named, or found under folders, in sorted order."""
    out: list[Path] = []
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            out.extend(sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith(("LICENSE", "."))))
        elif path.is_file():
            out.append(path)
        else:
            raise ToxmixError(f"labelled data not found: {p}")
    return out


def labelled_examples(path: str, rule: LabelRule, text_field: str | None = None) -> Iterator[tuple[str, str]]:
    """(text, label) pairs from every file under path that the rule labels."""
    for text, label, _, _ in labelled_records(path, rule, text_field):
        yield text, label


def labelled_records(path: str, rule: LabelRule,
                     text_field: str | None = None) -> Iterator[tuple[str, str, Path, dict]]:
    """(text, label, file, record) for every record under path that the rule labels and that has text."""
    for file in expand_files([path]):
        file_label = rule.label(file.name) if rule.field == "file" else None
        if rule.field == "file" and file_label is None:
            continue
        for record in read_records(file):
            field = text_field or next((f for f in TEXT_FIELDS if f in record), None)
            text = record.get(field) if field else None
            if not isinstance(text, str) or not text.strip():
                continue
            label = file_label if rule.field == "file" else rule.label(record.get(rule.field))
            if label is not None:
                yield text, label, file, record


def group_of_file(name: str) -> str:
    """`hate_asian_1k.txt` / `neutral_middle_east_sentences.txt` -> `asian` / `middle_east`."""
    stem = Path(name).name.split(".")[0]
    stem = re.sub(r"^(hate|neutral)_", "", stem)
    return re.sub(r"_(1k|sentences)$", "", stem)
