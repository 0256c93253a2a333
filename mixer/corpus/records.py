"""How raw input records become documents, and why some are rejected instead."""

import json
from enum import StrEnum
from typing import Any

import xxhash
from datatrove.data import Document

MAX_DOC_BYTES = 10 * 1024 * 1024

# Keys in Document.metadata that carry ingest bookkeeping; everything a user keeps lives under FIELDS.
REJECT = "toxmix_reject"
RAW = "toxmix_raw"
ORIGIN = "toxmix_origin"
FIELDS = "toxmix_fields"
N_TOKENS = "toxmix_n_tokens"


class Reason(StrEnum):
    """Why a record was not stored."""

    MALFORMED_JSON = "malformed_json"
    INVALID_UTF8 = "invalid_utf8"
    MISSING_TEXT = "missing_text"
    EMPTY_TEXT = "empty_text"
    TOO_LARGE = "too_large"
    DUPLICATE_ID = "duplicate_id"
    NOT_HTML = "not_html"
    UNREADABLE = "unreadable"  # the rest of a damaged file: raw holds the reader's error, row where it stopped
    MALFORMED_CSV = "malformed_csv"


def content_id(text: str) -> str:
    """A stable id from content: the hex xxh3-128 of the UTF-8 text."""
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))


def rejected_document(reason: Reason, raw: bytes, origin: tuple[str, int], doc_id: str | None = None) -> Document:
    """A placeholder document that carries a rejected record to the reject table."""
    return Document(
        text="", id=doc_id or "", metadata={REJECT: str(reason), RAW: raw, ORIGIN: origin, FIELDS: {}}
    )


def _raw_of(record: dict) -> bytes:
    # surrogateescape restores the original bytes of text decoded from invalid UTF-8
    return json.dumps(record, default=str, ensure_ascii=False).encode("utf-8", "surrogateescape")


def _has_surrogates(text: str) -> bool:
    if text.isascii():  # constant time in CPython, and most ids and many texts are ASCII
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def record_to_document(
    record: dict[str, Any],
    origin: tuple[str, int],
    text_field: str,
    id_field: str | None,
    keep_fields: tuple[str, ...],
    raw: bytes | None = None,
) -> Document:
    """Turn one parsed record into a document, or into a rejected placeholder that says why."""
    text = record.get(text_field)
    given_id = record.get(id_field) if id_field else None
    doc_id = str(given_id) if given_id is not None else None

    def reject(reason: Reason) -> Document:
        return rejected_document(reason, raw if raw is not None else _raw_of(record), origin, doc_id)

    if not isinstance(text, str):
        return reject(Reason.MISSING_TEXT)
    if _has_surrogates(text) or (doc_id is not None and _has_surrogates(doc_id)):
        return reject(Reason.INVALID_UTF8)
    if not text or text.isspace():  # as `not text.strip()`, without copying the text
        return reject(Reason.EMPTY_TEXT)
    if len(text) > MAX_DOC_BYTES // 4 and len(text.encode("utf-8")) > MAX_DOC_BYTES:
        return reject(Reason.TOO_LARGE)
    fields = {name: record.get(name) for name in keep_fields}
    metadata = {ORIGIN: origin, FIELDS: fields}
    if raw is not None:
        metadata[RAW] = raw  # a reference, not a copy: kept so a later duplicate can be rejected with its bytes
    return Document(text=text, id=doc_id or content_id(text), metadata=metadata)


def is_rejected(doc: Document) -> bool:
    """Whether a document is a rejected placeholder."""
    return REJECT in doc.metadata
