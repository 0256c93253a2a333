"""Files: atomic writes, confined paths and content digests (one chunked reader for every hash)."""

import contextlib
import errno
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import xxhash

from toxmix.core.errors import ToxmixError

MODEL_FILE_SUFFIXES = (".bin", ".ftz", ".pt", ".pth", ".ckpt", ".safetensors", ".gguf", ".onnx")


def looks_local(ref: str) -> bool:
    """Whether a reference means a local path, not a hub id: an explicit path, a model file's suffix, or a first
    part that is a local folder (`models/toxicity.bin` is a missing file, not the hub repo `models/...`)."""
    path = Path(ref).expanduser()
    return (ref.startswith((".", "/", "~")) or path.suffix.lower() in MODEL_FILE_SUFFIXES
            or (len(path.parts) > 1 and Path(path.parts[0]).is_dir()))


@contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """A folder written under a temporary name beside `final` and renamed into place (replacing it) once the block
    succeeds; on failure it is removed, so nothing half-written is taken for complete. A library's own
    disk-full error (safetensors raises its own type) becomes the OSError it stands for, naming the folder."""
    final = Path(final)
    staged = final.with_name(f".{final.name}.partial")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    try:
        yield staged
    except OSError:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    except BaseException as e:
        shutil.rmtree(staged, ignore_errors=True)
        if "No space left on device" in str(e) or "os error 28" in str(e):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(final)) from e
        raise
    if final.exists():
        shutil.rmtree(final)
    staged.rename(final)


def disk_full(e: OSError) -> ToxmixError:
    """A full disk, in one line: the path being written and the space left there."""
    path = Path(e.filename or ".")
    probe = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    free = shutil.disk_usage(probe).free
    return ToxmixError(f"no space left on the disk holding {path} ({free / 2**20:,.1f} MiB free there); free some "
                       "space or point the output elsewhere, then run the same command again")

CHUNK = 1 << 24


def safe_join(root: Path, *parts: str) -> Path:
    """Join parts under root and refuse any result that escapes it."""
    root = root.resolve()
    path = root.joinpath(*parts).resolve()
    if path != root and root not in path.parents:
        raise ToxmixError(f"path {'/'.join(parts)!r} escapes its output directory {root}")
    return path


def temp_path(path: Path) -> Path:
    """The hidden, per-process temporary name a file is written under before it is renamed into place."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, so readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes | memoryview) -> None:
    """Write a file so that readers see either the old content or the whole new one."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, obj: object) -> None:
    """Write JSON atomically with sorted keys, so equal content gives equal bytes."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def canonical_sha256(obj: object) -> str:
    """sha256 of an object's canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _hash_files(hasher, paths) -> str:
    for path in paths:
        with open(path, "rb") as f:
            for chunk in iter(lambda f=f: f.read(CHUNK), b""):
                hasher.update(chunk)
    return hasher.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (token files, whose checksums a lock records)."""
    return _hash_files(hashlib.sha256(), [path])


def _digest_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "toxmix" / "digests.json"


def file_digest(*paths: str | Path, length: int = 16) -> str:
    """A short xxh3-128 over the contents of files (model versions, corpus fingerprints).

    Models can be GBs, so digests are cached by (path, size, mtime); a changed file gets a new digest.
    """
    keys = []
    for path in paths:
        st = os.stat(path)
        keys.append(f"{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}")
    key = "|".join(keys)
    cache_file = _digest_cache()
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if key not in cache:
        cache[key] = _hash_files(xxhash.xxh3_128(), paths)
        with contextlib.suppress(OSError):  # a read-only home only costs the cache
            atomic_write_bytes(cache_file, json.dumps(cache).encode())
    return cache[key][:length]
