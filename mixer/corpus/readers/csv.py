"""CSV reader that survives invalid UTF-8 and broken quoting, rejecting only the rows that hold them."""

import csv
import io
import sys
from collections.abc import Iterator

from datatrove.pipeline.readers import CSVReader as CsvReader

from toxmix.mixer.corpus.readers.base import KeepEveryRecord
from toxmix.mixer.corpus.records import Reason, record_to_document, rejected_document

csv.field_size_limit(sys.maxsize)


class _Lines:
    """A line iterator that remembers the lines of the record being parsed, so a bad one can be replayed."""

    def __init__(self, lines: Iterator[str]):
        self._lines = lines
        self.pending: list[str] = []
        self.taken: list[str] = []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.pending.pop(0) if self.pending else next(self._lines)
        self.taken.append(line)
        return line

    def record_bytes(self) -> bytes:
        """The original bytes of the lines taken since the last call."""
        raw = "".join(self.taken).encode("utf-8", "surrogateescape")
        self.taken = []
        return raw


class StoreCsvReader(KeepEveryRecord, CsvReader):
    """datatrove's CsvReader, decoding with surrogateescape so one bad byte rejects one row, not the file.

    Parsing is strict: a quote left open mid-file would otherwise swallow the rows after it into one field.
    A row that does not parse is rejected as `malformed_csv` by its first line, and parsing resumes on the next.
    """

    name = "🔢 Csv (toxmix)"

    def read_records(self, filepath: str):
        with self.data_folder.open(filepath, "rb", compression=self.compression) as raw:
            # utf-8-sig: a byte-order mark would otherwise become part of the first column's name
            lines = _Lines(io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline=""))
            header: list[str] | None = None
            row = 0
            while True:
                reader = csv.reader(lines, strict=True)
                try:
                    if header is None:
                        header = next(reader, None)
                        lines.record_bytes()
                        if header is None:
                            return
                    for values in reader:
                        record_raw = lines.record_bytes()
                        if not values:
                            continue  # blank lines are not records, as in csv.DictReader
                        with self.track_time():
                            doc = record_to_document(_as_record(header, values), (filepath, row), self.text_key,
                                                     self.id_field, self.keep_fields, raw=record_raw)
                        row += 1
                        yield doc
                    return
                except csv.Error:
                    first, *rest = lines.taken
                    lines.taken, lines.pending = [], rest + lines.pending
                    yield rejected_document(Reason.MALFORMED_CSV, first.encode("utf-8", "surrogateescape"),
                                            (filepath, row))
                    row += 1


def _as_record(header: list[str], values: list[str]) -> dict:
    """A row as csv.DictReader makes it: missing values None, extra values as a list under None."""
    record = dict(zip(header, values, strict=False))
    for name in header[len(values):]:
        record[name] = None
    if len(values) > len(header):
        record[None] = values[len(header):]
    return record
