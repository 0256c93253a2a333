"""Reading the store's own document shards: only id and text, column-wise, prefetched in a thread."""

import queue
import threading

import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.pipeline.readers import ParquetReader

_DONE = object()


class StoreShardReader(ParquetReader):
    """datatrove's ParquetReader for store shards: whole columns at a time, the next batch read ahead.

    Store shards always hold non-empty text and an id, so no per-row adapter is needed. Scorers release
    the GIL while they predict, so decoding the next batch in a thread hides the read time.
    """

    name = "📒 Store shards"

    def _batches(self, filepath: str, out: queue.Queue) -> None:
        try:
            with self.data_folder.open(filepath, "rb") as f, pq.ParquetFile(f) as pqf:
                for batch in pqf.iter_batches(batch_size=self.batch_size, columns=["id", "text"]):
                    out.put(list(zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)))
            out.put(_DONE)
        except BaseException as e:  # noqa: BLE001 - re-raised in the reading thread
            out.put(e)

    def read_file(self, filepath: str):
        batches: queue.Queue = queue.Queue(maxsize=2)
        thread = threading.Thread(target=self._batches, args=(filepath, batches), daemon=True)
        thread.start()
        while (item := batches.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield from (Document(text=text, id=doc_id, metadata={}) for doc_id, text in item)
        thread.join()
