"""Resolving model references: a local path, or a file in a Hugging Face Hub repository."""

import re
from pathlib import Path

from toxmix.core.errors import ToxmixError
from toxmix.core.files import looks_local

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
def resolve_model_file(ref: str, filename: str = "model.bin") -> Path:
    """A local model file, downloading `filename` from the hub when `ref` is a repo id."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    if path.is_dir() and (path / filename).is_file():
        return path / filename
    if looks_local(ref):
        raise ToxmixError(f"no such file: {ref} (a local model file; check the path)")
    if not HUB_ID.match(ref):
        raise ToxmixError(f"model not found: {ref!r} is neither a file nor a hub id like org/name")
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id=ref, filename=filename))
    except Exception as e:  # noqa: BLE001 - hub errors vary; say what to do instead
        raise ToxmixError(
            f"cannot fetch {filename} from hub repo {ref!r} ({e.__class__.__name__}); "
            "download it elsewhere and pass a local path"
        ) from None


def resolve_model_dir(ref: str) -> str:
    """A local model directory as a path string, or a hub id passed through to from_pretrained."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if looks_local(ref):
        raise ToxmixError(f"no such model folder: {ref} (a local path; check it)")
    if not HUB_ID.match(ref):
        raise ToxmixError(f"model not found: {ref!r} is neither a directory nor a hub id like org/name")
    return ref
