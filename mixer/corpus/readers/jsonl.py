"""JSONL reader (plain, .gz or .zst) that reads bytes, so bad lines are rejected rather than fatal."""

import orjson
from datatrove.pipeline.readers import JsonlReader

from toxmix.mixer.corpus.readers.base import KeepEveryRecord
from toxmix.mixer.corpus.records import Reason, record_to_document, rejected_document


def iter_lines(f, chunk_size: int = 1 << 20):
    """Lines of a binary stream, for streams (like zstd's) that cannot be iterated by line.

    read1 returns what one decompression step gave, so a truncated file yields every line before the damage.
    """
    read = getattr(f, "read1", f.read)
    rest = b""
    while chunk := read(chunk_size):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


class StoreJsonlReader(KeepEveryRecord, JsonlReader):
    """datatrove's JsonlReader, reading lines as bytes: malformed JSON and invalid UTF-8 become rejects."""

    name = "🐿 Jsonl (toxmix)"

    def read_records(self, filepath: str):
        with self.data_folder.open(filepath, "rb", compression=self.compression) as f:
            for li, line in enumerate(iter_lines(f)):
                if li == 0:
                    line = line.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark is not part of the record
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
            return rejected_document(Reason.INVALID_UTF8, line, origin)
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            return rejected_document(Reason.MALFORMED_JSON, line, origin)
        if not isinstance(record, dict):
            return rejected_document(Reason.MALFORMED_JSON, line, origin)
        return record_to_document(record, origin, self.text_key, self.id_field, self.keep_fields,
                                  raw=line)
