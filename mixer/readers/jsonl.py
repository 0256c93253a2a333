"""JSONL reader (plain, .gz or .zst) that reads bytes, so bad lines are rejected rather than fatal."""

import orjson
from datatrove.pipeline.readers import JsonlReader

from mixer.readers.base import KeepEveryRecord
from mixer.records import Reason, record_to_document, rejected_document


class StoreJsonlReader(KeepEveryRecord, JsonlReader):
    """datatrove's JsonlReader, reading lines as bytes: malformed JSON and invalid UTF-8 become rejects."""

    name = "🐿 Jsonl (toxmix)"

    def read_file(self, filepath: str):
        with self.data_folder.open(filepath, "rb", compression=self.compression) as f:
            for li, line in enumerate(f):
                with self.track_time():
                    doc = self._parse_line(line, filepath, li)
                if doc is not None:
                    yield doc

    def _parse_line(self, line: bytes, filepath: str, li: int):
        origin = (filepath, li)
        if not line.strip():
            return None  # blank separator lines are not records
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return rejected_document(Reason.INVALID_UTF8, line.rstrip(b"\n"), origin)
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            return rejected_document(Reason.MALFORMED_JSON, line.rstrip(b"\n"), origin)
        if not isinstance(record, dict):
            return rejected_document(Reason.MALFORMED_JSON, line.rstrip(b"\n"), origin)
        return record_to_document(record, origin, self.text_key, self.id_field, self.keep_fields,
                                  raw=line.rstrip(b"\n"))
