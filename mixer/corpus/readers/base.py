"""What every toxmix reader shares: records become documents or rejected placeholders, never nothing."""

from datatrove.data import Document

from mixer.corpus.records import record_to_document


class KeepEveryRecord:
    """Mixin for datatrove readers: map each record through `record_to_document` so that none is dropped.

    datatrove's readers skip records without text; toxmix counts and keeps them instead.
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
