"""WARC reader: HTML responses become documents through trafilatura; other responses are rejected."""

from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.readers import WarcReader
from datatrove.pipeline.readers.warc import process_record

from toxmix.mixer.corpus.readers.base import KeepEveryRecord
from toxmix.mixer.corpus.records import Reason, rejected_document

_DOCUMENT_RECORDS = ("response", "conversion")


class StoreWarcReader(KeepEveryRecord, WarcReader):
    """datatrove's WarcReader plus text extraction; every response record is either stored or rejected."""

    name = "🕷 Warc (toxmix)"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._extractor = Trafilatura(favour_precision=True)

    def read_records(self, filepath: str):
        from warcio.archiveiterator import ArchiveIterator

        with self.data_folder.open(filepath, "rb", compression=self.compression) as f:
            for ri, record in enumerate(ArchiveIterator(f)):
                if record.rec_type not in _DOCUMENT_RECORDS:
                    continue  # warcinfo, request and metadata records are not documents
                with self.track_time():
                    data = process_record(record)
                    if data is None:
                        uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                        yield rejected_document(Reason.NOT_HTML, uri.encode(), (filepath, ri))
                        continue
                    data["text"] = self._extractor.extract(data["text"]) or ""
                    yield self.get_document_from_dict(data, filepath, ri)
