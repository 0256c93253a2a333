"""Parquet reader that keeps every row."""

from datatrove.pipeline.readers import ParquetReader

from toxmix.mixer.corpus.readers.base import KeepEveryRecord


class StoreParquetReader(KeepEveryRecord, ParquetReader):
    """datatrove's ParquetReader, keeping rows without text as rejects."""

    name = "📒 Parquet (toxmix)"
