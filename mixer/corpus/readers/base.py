"""What every toxmix reader shares: records become documents or rejected placeholders, never nothing."""

from collections.abc import Iterator

from datatrove.data import Document

from toxmix.mixer.corpus.records import ORIGIN, Reason, record_to_document, rejected_document


class KeepEveryRecord:
    """Mixin for datatrove readers: map each record through `record_to_document` so that none is dropped.

    datatrove's readers skip records without text and stop a whole task at the first unreadable byte; toxmix
    counts and keeps them instead. Subclasses parse in `read_records`; `read_file` guards it.
    """

    keep_fields: tuple[str, ...] = ()
    id_field: str | None = None

    def configure(self, text_field: str, id_field: str | None, keep_fields: tuple[str, ...]) -> None:
        """Set the record fields this reader maps."""
        self.text_key = text_field
        self.id_field = id_field
        self.keep_fields = tuple(keep_fields)

    def get_document_from_dict(self, data: dict, source_file: str, id_in_file: int | str) -> Document:
        return record_to_document(data, (str(source_file), int(id_in_file)), self.text_key, self.id_field,
                                  self.keep_fields)

    def read_records(self, filepath: str) -> Iterator[Document]:
        """Documents of one file, in order; may raise part way through a damaged file."""
        return super().read_file(filepath)

    def read_file(self, filepath: str) -> Iterator[Document]:
        """Every record `read_records` could read, then one `unreadable` reject for a damaged remainder."""
        next_row = 0
        try:
            for doc in self.read_records(filepath):
                next_row = doc.metadata[ORIGIN][1] + 1
                yield doc
        except Exception as e:  # noqa: BLE001 - any failure to decode the file is the input's, kept as a reject
            message = f"{type(e).__name__}: {e}"[:2000]
            yield rejected_document(Reason.UNREADABLE, message.encode("utf-8", "replace"), (filepath, next_row))
