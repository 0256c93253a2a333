"""The lock: what a resolved manifest selected, with fingerprints and checksums to prove it later.

A lock is a typed, versioned model, read and written only here. Probe, eval and training read locks through
`read_lock`; the shape is documented in the README ("The lock file").
"""

import hashlib
from importlib.metadata import version
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import ConfigDict

from toxmix.core.errors import ToxmixError
from toxmix.core.files import canonical_sha256, file_digest, file_sha256
from toxmix.core.records import Frozen, Record
from toxmix.mixer.corpus.store import CorpusLayout

LOCK_VERSION = 3


class ManifestRef(Frozen):
    """The manifest a lock was resolved from: its name and the sha256 of its parsed content."""

    name: str
    sha256: str


class TokenizerRef(Frozen):
    """The tokenizer the corpus was counted with: name, content sha256, vocabulary, EOS and padding ids."""

    name: str
    sha256: str
    vocab_size: int
    eos_id: int
    pad_id: int


class CorpusFile(Frozen):
    """One corpus file a selection read, relative to the corpus root."""

    path: str
    size: int
    xxh3: str


class CorpusFingerprint(Frozen):
    """The corpus files a selection read, and one digest over them."""

    files: list[CorpusFile]
    digest: str


class ComponentLock(Frozen):
    """What one component selected against its budget, and the SQL that selected it."""

    sources: list[str]
    where: str | None
    role: Literal["clean"] | None  # the manifest's reference component (see Lock.clean_component)
    budget: int
    docs: int
    tokens: int
    epochs_used: int
    available_docs: int
    available_tokens: int
    sql: str


class Selection(Frozen):
    """The selected rows (a Parquet file relative to the corpus) and their digest."""

    path: str
    docs: int
    tokens: int
    ids_sha256: str


class LabelMaskFile(Frozen):
    path: str
    sha256: str


class ShardFile(Frozen):
    """One token file: name in the token folder, tokens, documents, checksum, and its label mask if any."""

    path: str
    tokens: int
    docs: int
    sha256: str
    label_mask: LabelMaskFile | None = None


class Materialized(Frozen):
    """The token files of a selection."""

    dir: str
    dtype: str
    shards: list[ShardFile]
    tokens: int
    digest: str

    def paths(self) -> list[str]:
        return [str(Path(self.dir) / s.path) for s in self.shards]

    def label_mask_paths(self) -> list[str] | None:
        if not self.shards or self.shards[0].label_mask is None:
            return None
        return [str(Path(self.dir) / s.label_mask.path) for s in self.shards if s.label_mask]


class Lock(Record):
    """A resolved manifest (version 3). `lock_digest` covers everything but `materialized`."""

    model_config = ConfigDict(frozen=True)
    KIND: ClassVar[str] = "lock"
    VERSION: ClassVar[int] = LOCK_VERSION
    REMEDY: ClassVar[str] = "resolve the manifest again ('toxmix manifest resolve')"

    version: int
    toxmix_version: str
    manifest: ManifestRef
    selection_seed: int
    hash: str
    tokenizer: TokenizerRef
    corpus: CorpusFingerprint
    components: dict[str, ComponentLock]
    selection: Selection
    lock_digest: str = ""
    materialized: Materialized | None = None

    def digest(self) -> str:
        """The digest that identifies a resolution: everything but the digest itself and materialization."""
        return canonical_sha256(self.model_dump(mode="json", exclude={"lock_digest", "materialized"}))

    @property
    def clean_component(self) -> str:
        """The name of the clean (reference) component: the toxic share is measured against it."""
        return next(name for name, c in self.components.items() if c.role == "clean")

    def sealed(self) -> "Lock":
        """This lock with its digest filled in."""
        return self.model_copy(update={"lock_digest": self.digest()})


def toxmix_version() -> str:
    """The installed toxmix version."""
    return version("toxmix")


def update_ids_sha256(h: "hashlib._Hash", batch: pa.RecordBatch) -> None:
    """Feed `component\tsource\tid\tepoch\n` of every row of a selection batch to `h`, in order."""
    cols = [batch.column(name).cast(pa.string()) for name in ("component", "source", "id", "epoch")]
    lines = pc.binary_join_element_wise(*cols, "\t")
    lines = pc.binary_join_element_wise(lines, pa.scalar("\n"), "")
    lines = lines.cast(pa.large_string())
    _, offsets, data = lines.buffers()
    offs = np.frombuffer(offsets, dtype=np.int64, count=lines.offset + len(lines) + 1)
    if data is not None:
        h.update(memoryview(data)[offs[lines.offset]:offs[-1]])


def selection_ids_sha256(path: Path) -> str:
    """sha256 over `component\tsource\tid\tepoch\n` for every selected row, in selection order."""
    h = hashlib.sha256()
    pf = pq.ParquetFile(path)
    for batch in pf.iter_batches(columns=["component", "source", "id", "epoch"], batch_size=1 << 16):
        update_ids_sha256(h, batch)
    return h.hexdigest()


def corpus_fingerprint(layout: CorpusLayout, files: list[Path]) -> CorpusFingerprint:
    """Names, sizes and xxh3-128 hashes of the corpus files a selection read, and one digest over them."""
    listed = [CorpusFile(path=str(f.relative_to(layout.root)), size=f.stat().st_size, xxh3=file_digest(f, length=32))
              for f in sorted(files)]
    return CorpusFingerprint(files=listed, digest=canonical_sha256([f.model_dump() for f in listed]))


def verify_corpus(layout: CorpusLayout, recorded: CorpusFingerprint) -> None:
    """Refuse a corpus whose files no longer match the lock, naming the first file that changed."""
    for f in recorded.files:
        path = layout.root / f.path
        if not path.is_file():
            raise ToxmixError(f"corpus file {f.path} is gone since the lock was written; resolve the manifest again")
        if path.stat().st_size != f.size or file_digest(path, length=32) != f.xxh3:
            raise ToxmixError(f"corpus file {f.path} changed since the lock was written; resolve the manifest again")


def read_lock(path: Path) -> Lock:
    """Load a lock file: refuse another version, a missing or unknown field, or a digest that does not match."""
    lock = Lock.read(path)
    if lock.lock_digest != lock.digest():
        raise ToxmixError(f"{path} was edited by hand: its digest does not match; resolve the manifest again")
    return lock


def write_lock(path: Path, lock: Lock) -> Lock:
    """Write a lock file atomically, sealed with its digest; return the sealed lock."""
    sealed = lock.sealed()
    sealed.write(path)
    return sealed


def verify_shards(lock: Lock) -> Materialized:
    """Refuse token files that are missing or differ from the checksums in the lock, naming the file."""
    mat = lock.materialized
    if mat is None:
        raise ToxmixError("the lock has no token files yet; run 'toxmix manifest materialize' first")
    for shard in mat.shards:
        files = [(shard.path, shard.sha256)]
        if shard.label_mask is not None:
            files.append((shard.label_mask.path, shard.label_mask.sha256))
        for name, digest in files:
            path = Path(mat.dir) / name
            if not path.is_file():
                raise ToxmixError(f"token file {path} is missing; run 'toxmix manifest materialize' again")
            if file_sha256(path) != digest:
                raise ToxmixError(f"token file {path} changed since it was materialized (sha256 mismatch); "
                                  "run 'toxmix manifest materialize' again")
    return mat
