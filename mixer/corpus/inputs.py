"""Ingest's inputs: local files and folders, any fsspec URL (`s3://`, `hf://`, `memory://`, ...), or one Hugging
Face dataset; listed, checked and fingerprinted before anything is read."""

import os
from pathlib import Path

from toxmix.core.errors import ToxmixError
from toxmix.core.tokenizer import hub_reachable
from toxmix.mixer.corpus.readers import FORMATS, guess_format


def is_url(path: str) -> bool:
    """Whether an input names a file system by protocol (`file://` URLs are read as local paths)."""
    return "://" in path and not path.startswith("file://")


def _local(path: str) -> Path:
    return Path(path.removeprefix("file://")).expanduser()


def _url_files(url: str, fmt: str | None) -> tuple[list[str], list[str]]:
    """Files under an fsspec URL (a file or a folder), as full URLs: (known format or --format, skipped)."""
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(url)
        if fs.isdir(path):
            names = sorted(fs.find(path))
        elif fs.isfile(path):
            names = [path]
        else:
            raise ToxmixError(f"input path does not exist: {url}")
    except ToxmixError:
        raise
    except Exception as e:  # noqa: BLE001 - file systems raise their own kinds; the message is what matters
        raise ToxmixError(f"cannot list {url}: {type(e).__name__}: {e}") from None
    known = [fs.unstrip_protocol(n) for n in names if fmt or guess_format(Path(n))]
    skipped = [fs.unstrip_protocol(n) for n in names if not fmt and not guess_format(Path(n))]
    if not known:
        raise ToxmixError(f"no input files of a known format under {url}")
    return known, skipped


def expand_inputs(paths: list[str], fmt: str | None) -> tuple[str, list[str], list[str]]:
    """The format, the sorted list of input files (or the one dataset, for hf), and the files inside input folders
    that were skipped for having no known format."""
    if fmt is not None and fmt not in FORMATS:
        raise ToxmixError(f"unknown --format {fmt!r}; use one of: {', '.join(FORMATS)}")
    if fmt == "hf":
        if len(paths) != 1:
            raise ToxmixError("--format hf takes exactly one dataset (a hub id or a local directory)")
        return fmt, [_hf_dataset(paths[0])], []
    files: list[str] = []
    skipped: list[str] = []
    for p in paths:
        if is_url(p):
            known, unknown = _url_files(p, fmt)
            files += known
            skipped += unknown
            continue
        path = _local(p)
        if path.is_dir():
            found = sorted(f for f in path.rglob("*") if f.is_file() and (fmt or guess_format(f)))
            skipped += [str(f) for f in sorted(path.rglob("*")) if f.is_file() and not fmt and not guess_format(f)]
            if not found:
                raise ToxmixError(f"no input files of a known format under {path}")
            files += [str(f.resolve()) for f in found]
        elif path.is_file():
            files.append(str(path.resolve()))
        else:
            raise ToxmixError(f"input path does not exist: {p}")
    formats = {fmt} if fmt else {guess_format(Path(f)) for f in files}
    if None in formats:
        unknown = next(f for f in files if guess_format(Path(f)) is None)
        raise ToxmixError(f"cannot tell the format of {unknown}; pass --format ({', '.join(FORMATS)})")
    if len(formats) > 1:
        raise ToxmixError(f"inputs mix formats {sorted(formats)}; ingest each format separately or pass --format")
    if len({is_url(f) for f in files}) > 1 or len({f.split("://")[0] for f in files if is_url(f)}) > 1:
        raise ToxmixError("inputs mix file systems; ingest each file system's inputs as its own source")
    return formats.pop(), sorted(set(files)), skipped


def input_root(files: list[str]) -> str:
    """The deepest folder holding every input (a URL for URL inputs): the reader's data folder."""
    if is_url(files[0]):
        protocol, _ = files[0].split("://", 1)
        paths = ["/" + f.split("://", 1)[1].lstrip("/") for f in files]
        return f"{protocol}://" + os.path.commonpath([os.path.dirname(p) for p in paths]).lstrip("/")
    return os.path.commonpath([os.path.dirname(f) for f in files])


def relative_to(file: str, root: str) -> str:
    """An input's path inside the reader's data folder."""
    if is_url(file):
        return os.path.relpath("/" + file.split("://", 1)[1].lstrip("/"), "/" + root.split("://", 1)[1].lstrip("/"))
    return os.path.relpath(file, root)


def fingerprint(files: list[str]) -> list[list]:
    """[file, size, modification time or etag] per input, so a changed input is noticed on a rerun."""
    out = []
    for f in files:
        if is_url(f):
            from fsspec.core import url_to_fs

            fs, path = url_to_fs(f)
            info = fs.info(path)
            out.append([f, info.get("size"), str(info.get("mtime") or info.get("ETag") or info.get("created") or "")])
            continue
        st = os.stat(f) if os.path.exists(f) else None
        out.append([f, st.st_size if st else None, st.st_mtime_ns if st else None])
    return out


def _hf_dataset(spec: str) -> str:
    """A local dataset folder (resolved) or a hub id that can be read: checked now, not after a traceback."""
    local = Path(spec).expanduser()
    if local.exists():
        if not local.is_dir():
            raise ToxmixError(f"--format hf reads a dataset folder or a hub id, and {spec} is a file; "
                              "drop --format hf to read it as a file")
        return str(local.resolve())
    if spec.startswith(("/", ".", "~")) or spec.count("/") > 1:
        raise ToxmixError(f"--format hf: no such dataset folder {spec}")
    if not hub_reachable():
        from huggingface_hub import snapshot_download

        try:
            snapshot_download(spec, repo_type="dataset", local_files_only=True)
        except Exception:  # noqa: BLE001 - not cached, or not a repo id at all
            raise ToxmixError(f"--format hf: {spec!r} is not a local folder, not in the hub cache, and the hub is "
                              "unreachable; pass a folder written by datasets' save_to_disk or of data files"
                              ) from None
    return spec
