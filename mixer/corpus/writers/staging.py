"""The ingest writer: stored documents and rejected records of one task, each in its own staged shard."""

from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

import toxmix.mixer.corpus.quiet  # noqa: F401 - quiets datatrove task logs in this process and in pool workers
from toxmix.core.processes import exit_with_parent_if_worker
from toxmix.mixer.corpus.records import FIELDS, N_TOKENS, ORIGIN, RAW, REJECT, is_rejected
from toxmix.mixer.corpus.tables import DOCUMENT_COLUMNS, REJECT_SCHEMA, coerce_field, field_type
from toxmix.mixer.corpus.writers.parquet_shard import ParquetShard

STAGED_ROW = "toxmix_row"  # each staged document's row in its input file, for duplicate rejects
ROWS_SCHEMA = pa.schema([(STAGED_ROW, pa.int64())])


def staged_names(rank: int) -> tuple[str, str, str]:
    """File names of a task's staged documents, rejects, and the documents' input rows (row-aligned with them).

    The documents are staged exactly as they are published, so a shard without duplicates is published by a
    rename, not written twice."""
    return f"{rank:05d}.docs.parquet", f"{rank:05d}.rejected.parquet", f"{rank:05d}.rows.parquet"


class StageShards(PipelineStep):
    """Write a task's documents and rejects to staging, in input order, with bounded memory."""

    name = "💾 Stage shards"
    type = "💽 - WRITER"

    def __init__(self, staging_dir: str, source: str, keep_fields: tuple[str, ...], batch_size: int = 8192):
        super().__init__()
        self.staging_dir = staging_dir
        self.source = source
        self.keep_fields = tuple(keep_fields)
        self.batch_size = batch_size

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        exit_with_parent_if_worker()  # a killed command takes its pool workers with it
        docs_name, rejects_name, rows_name = staged_names(rank)
        out = Path(self.staging_dir)
        self._types: dict[str, pa.DataType] = {}
        doc_rows: list[Document] = []
        reject_rows: list[dict] = []
        docs_shard: ParquetShard | None = None
        rejects = ParquetShard(out / rejects_name, REJECT_SCHEMA)
        rows = ParquetShard(out / rows_name, ROWS_SCHEMA)
        try:
            for doc in data:
                if is_rejected(doc):
                    reject_rows.append(self._reject_row(doc))
                    self.stat_update("rejected", f"rejected_{doc.metadata[REJECT]}")
                else:
                    bad = self._coerce_fields(doc)
                    if bad:
                        reject_rows.append(bad)
                        self.stat_update("rejected", f"rejected_{bad['reason']}")
                        continue
                    doc_rows.append(doc)
                if len(doc_rows) >= self.batch_size:  # one row group of the published shard
                    docs_shard = docs_shard or ParquetShard(out / docs_name, self._doc_schema())
                    self._write_docs(docs_shard, rows, doc_rows)
                    doc_rows = []
                if len(reject_rows) >= self.batch_size:
                    rejects.write(pa.Table.from_pylist(reject_rows, schema=REJECT_SCHEMA))
                    reject_rows = []
            docs_shard = docs_shard or ParquetShard(out / docs_name, self._doc_schema())
            self._write_docs(docs_shard, rows, doc_rows)
            rejects.write(pa.Table.from_pylist(reject_rows, schema=REJECT_SCHEMA))
        except BaseException:
            rejects.abort()
            rows.abort()
            if docs_shard:
                docs_shard.abort()
            raise
        rows.close()
        rejects.close()
        docs_shard.close()  # last: a staged shard exists only with its rows and rejects
        return
        yield

    def _reject_row(self, doc: Document, reason: str | None = None) -> dict:
        file, row = doc.metadata[ORIGIN]
        raw = doc.metadata.get(RAW)
        if raw is None:
            raw = orjson.dumps({"id": doc.id, "text": doc.text, **doc.metadata.get(FIELDS, {})}, default=str)
        return {"source": self.source, "reason": reason or doc.metadata[REJECT], "file": file, "row": row,
                "id": doc.id or None, "raw": raw}

    def _coerce_fields(self, doc: Document) -> dict | None:
        fields = doc.metadata[FIELDS]
        for name in self.keep_fields:
            value = fields.get(name)
            if value is None:
                continue
            dtype = self._types.setdefault(name, field_type(value))
            try:
                fields[name] = coerce_field(value, dtype)
            except (TypeError, ValueError):
                return self._reject_row(doc, f"bad_field_{name}")
        return None

    def _doc_schema(self) -> pa.Schema:
        schema = DOCUMENT_COLUMNS
        for name in self.keep_fields:
            # once a shard is open its types are frozen: fields not seen yet become strings
            schema = schema.append(pa.field(name, self._types.setdefault(name, pa.string())))
        return schema

    def _write_docs(self, docs_shard: ParquetShard, rows: ParquetShard, docs: list[Document]) -> None:
        self.stat_update("stored", value=len(docs))
        docs_shard.write(self._docs_table(docs))
        rows.write(pa.table({STAGED_ROW: [d.metadata[ORIGIN][1] for d in docs]}, schema=ROWS_SCHEMA))

    def _docs_table(self, docs: list[Document]) -> pa.Table:
        text = pa.array([d.text for d in docs], pa.string())
        columns = {
            "id": [d.id for d in docs],
            "source": [self.source] * len(docs),
            "text": text,
            "n_bytes": pc.binary_length(text).cast(pa.int64()),
            "n_tokens": [d.metadata[N_TOKENS] for d in docs],
        }
        schema = self._doc_schema()
        for name in self.keep_fields:
            columns[name] = [d.metadata[FIELDS].get(name) for d in docs]
        return pa.table(columns, schema=schema)

