"""Lock files: what a resolved manifest selected, with fingerprints and checksums to prove it later."""

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from classifiers.base import file_digest
from mixer.errors import ToxmixError
from mixer.store import CorpusLayout, write_json

DIGESTED = ("toxmix_version", "manifest", "seed", "hash", "tokenizer", "corpus", "components", "selection")


def lock_path(manifest_path: str | Path) -> Path:
    """`M.yaml` -> `M.lock.json`, beside the manifest."""
    path = Path(manifest_path)
    return path.with_name(path.name.removesuffix(".yaml").removesuffix(".yml") + ".lock.json")


def toxmix_version() -> str:
    """The installed toxmix version."""
    return version("toxmix")


def canonical_sha256(obj: object) -> str:
    """sha256 of an object's canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def lock_digest(lock: dict) -> str:
    """The digest that identifies a resolution: everything but materialization details."""
    return canonical_sha256({k: lock[k] for k in DIGESTED})


def selection_ids_sha256(path: Path) -> str:
    """sha256 over `component\\tsource\\tid\\tepoch\\n` for every selected row, in selection order."""
    h = hashlib.sha256()
    pf = pq.ParquetFile(path)
    for batch in pf.iter_batches(columns=["component", "source", "id", "epoch"], batch_size=1 << 16):
        cols = [batch.column(i).cast(pa.string()) for i in range(4)]
        lines = pc.binary_join_element_wise(*cols, "\t")
        lines = pc.binary_join_element_wise(lines, pa.scalar("\n"), "")
        lines = lines.cast(pa.large_string())
        _, offsets, data = lines.buffers()
        offs = np.frombuffer(offsets, dtype=np.int64, count=lines.offset + len(lines) + 1)
        if data is not None:
            h.update(memoryview(data)[offs[lines.offset]:offs[-1]])
    return h.hexdigest()


def corpus_fingerprint(layout: CorpusLayout, files: list[Path]) -> dict:
    """Names, sizes and xxh3-128 hashes of the corpus files a selection read, and one digest over them."""
    listed = [[str(f.relative_to(layout.root)), f.stat().st_size, file_digest(f, length=32)] for f in sorted(files)]
    return {"files": listed, "digest": canonical_sha256(listed)}


def verify_corpus(layout: CorpusLayout, recorded: dict) -> None:
    """Refuse a corpus whose files no longer match the lock, naming the first file that changed."""
    for rel, size, digest in recorded["files"]:
        path = layout.root / rel
        if not path.is_file():
            raise ToxmixError(f"corpus file {rel} is gone since the lock was written; resolve the manifest again")
        if path.stat().st_size != size or file_digest(path, length=32) != digest:
            raise ToxmixError(f"corpus file {rel} changed since the lock was written; resolve the manifest again")


def read_lock(path: Path) -> dict:
    """Load a lock file and check its digest."""
    if not path.is_file():
        raise ToxmixError(f"no lock file {path}; run 'toxmix manifest resolve' first")
    lock = json.loads(path.read_text())
    if lock.get("lock_digest") != lock_digest(lock):
        raise ToxmixError(f"{path} was edited by hand: its digest does not match; resolve the manifest again")
    return lock


def write_lock(path: Path, lock: dict) -> None:
    """Write a lock file atomically, with its digest."""
    lock["lock_digest"] = lock_digest(lock)
    write_json(path, lock)


def verify_shards(lock: dict) -> None:
    """Refuse token files that are missing or differ from the checksums in the lock, naming the file."""
    mat = lock.get("materialized")
    if not mat:
        raise ToxmixError("the lock has no token files yet; run 'toxmix manifest materialize' first")
    for shard in mat["shards"]:
        files = [(shard["path"], shard["sha256"])]
        if "label_mask" in shard:
            files.append((shard["label_mask"]["path"], shard["label_mask"]["sha256"]))
        for name, digest in files:
            path = Path(mat["dir"]) / name
            if not path.is_file():
                raise ToxmixError(f"token file {path} is missing; run 'toxmix manifest materialize' again")
            if file_sha256(path) != digest:
                raise ToxmixError(f"token file {path} changed since it was materialized (sha256 mismatch); "
                                  "run 'toxmix manifest materialize' again")


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()
