"""Readers for every input format, chosen by name or by file extension."""

from pathlib import Path

from datatrove.pipeline.readers.base import BaseReader

from toxmix.core.errors import ToxmixError
from toxmix.mixer.corpus.readers.csv import StoreCsvReader
from toxmix.mixer.corpus.readers.hf import StoreHuggingFaceReader
from toxmix.mixer.corpus.readers.jsonl import StoreJsonlReader
from toxmix.mixer.corpus.readers.parquet import StoreParquetReader
from toxmix.mixer.corpus.readers.warc import StoreWarcReader

FORMATS = ("jsonl", "parquet", "csv", "warc", "hf")
_SUFFIXES = {
    ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl",
    ".parquet": "parquet", ".csv": "csv", ".warc": "warc", ".arc": "warc",
}
_COMPRESSIONS = (".gz", ".zst", ".zstd", ".bz2")


def guess_format(path: Path) -> str | None:
    """The format a file's name implies, looking through a compression suffix."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        suffixes = suffixes[:-1]
    return _SUFFIXES.get(suffixes[-1]) if suffixes else None


def build_reader(
    fmt: str,
    root: str,
    paths_file: str | None,
    text_field: str,
    id_field: str | None,
    keep_fields: tuple[str, ...],
    hf_split: str = "train",
    hf_subset: str | None = None,
    progress: bool = False,
) -> BaseReader:
    """A datatrove reader for one format, reading the files listed in paths_file (relative to root)."""
    if fmt == "hf":
        local = Path(root)
        from_disk = local.is_dir() and (local / "dataset_info.json").exists() and (local / "state.json").exists()
        reader = StoreHuggingFaceReader(
            dataset=root, load_from_disk=from_disk, doc_progress=progress,
            dataset_options=None if from_disk else {"split": hf_split, **({"name": hf_subset} if hf_subset else {})},
        )
    else:
        cls = {"jsonl": StoreJsonlReader, "parquet": StoreParquetReader, "csv": StoreCsvReader,
               "warc": StoreWarcReader}.get(fmt)
        if cls is None:
            raise ToxmixError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
        reader = cls(root, paths_file=paths_file, doc_progress=progress, file_progress=progress)
    reader.configure(text_field, id_field, keep_fields)
    return reader
