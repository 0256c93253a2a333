"""CSV reader that survives invalid UTF-8, rejecting only the rows that hold it."""

import csv
import io
import sys

from datatrove.pipeline.readers import CSVReader as CsvReader

from mixer.corpus.readers.base import KeepEveryRecord

csv.field_size_limit(sys.maxsize)


class StoreCsvReader(KeepEveryRecord, CsvReader):
    """datatrove's CsvReader, decoding with surrogateescape so one bad byte rejects one row, not the file."""

    name = "🔢 Csv (toxmix)"

    def read_file(self, filepath: str):
        with self.data_folder.open(filepath, "rb", compression=self.compression) as raw:
            # utf-8-sig: a byte-order mark would otherwise become part of the first column's name
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
            for di, row in enumerate(csv.DictReader(text)):
                with self.track_time():
                    doc = self.get_document_from_dict(row, filepath, di)
                yield doc
