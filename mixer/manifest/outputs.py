"""Where a manifest's outputs go, checked before anything is written, and which manifest owns them."""

import json
import os
from pathlib import Path

from toxmix.core.errors import ToxmixError
from toxmix.core.files import write_json
from toxmix.mixer.corpus.store import CorpusLayout
from toxmix.mixer.manifest.schema import ManifestFile

OWNER_FILE = "toxmix-owner.json"
_SYSTEM_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))


def output_dir(mf: ManifestFile, layout: CorpusLayout) -> Path:
    """The token file folder: the manifest's output.dir (relative to the manifest's folder), else
    <corpus>/tokens/<name>."""
    given = mf.manifest.output.dir
    return (mf.base / Path(given).expanduser()).resolve() if given else layout.tokens(mf.name)


def _inside(path: Path, root: Path) -> bool:
    root = root.resolve()
    return path == root or root in path.parents


def check_output_dir(mf: ManifestFile, layout: CorpusLayout) -> Path:
    """Refuse an output.dir that escapes, is a system folder, is not a writable folder, or holds other files."""
    out = output_dir(mf, layout)
    given = mf.manifest.output.dir
    where = f"output.dir {given!r}"
    if given and not Path(given).expanduser().is_absolute() and not (
            _inside(out, layout.root) or _inside(out, mf.base)):
        raise ToxmixError(f"{where} leaves both the corpus and the manifest's folder; give a path inside one of "
                          "them, or an absolute path")
    if any(_inside(out, r) for r in _SYSTEM_ROOTS):
        raise ToxmixError(f"{where} is a system folder ({out}); give a folder for token files")
    if out.exists() and not out.is_dir():
        raise ToxmixError(f"{where} is a file ({out}); give a folder for token files")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ToxmixError(f"{where}: cannot write under {existing}")
    if out.is_dir() and not (out / OWNER_FILE).is_file():
        strangers = [p.name for p in out.iterdir() if not p.name.lstrip(".").startswith("part-")]
        if strangers:
            raise ToxmixError(f"{where} ({out}) already holds files toxmix did not write ({strangers[0]}, ...); "
                              "give an empty or new folder")
    return out


def _owner_files(mf: ManifestFile, layout: CorpusLayout, out: Path) -> list[tuple[Path, str]]:
    """Each owned output's owner record, with what the output is called in messages."""
    return [(layout.mixtures_root / f"{mf.name}.owner.json", f"mixture name {mf.name!r} in {layout.root}"),
            (out / OWNER_FILE, f"token folder {out}")]


def check_owner(mf: ManifestFile, layout: CorpusLayout, out: Path) -> None:
    """Refuse outputs that another manifest file owns: two manifests must never share a selection or tokens."""
    me = str(mf.path)
    for record, what in _owner_files(mf, layout, out):
        if not record.is_file():
            continue
        owner = json.loads(record.read_text()).get("manifest")
        if owner != me:
            raise ToxmixError(f"{what} belongs to another manifest, {owner}; give this one another name: (or "
                              f"output.dir), or, if that manifest is gone, delete {record}")


def claim_outputs(mf: ManifestFile, layout: CorpusLayout) -> Path:
    """Check the output folder and the name's ownership, then record this manifest as their owner."""
    out = check_output_dir(mf, layout)
    check_owner(mf, layout, out)
    for record, _ in _owner_files(mf, layout, out):
        if not record.is_file():
            write_json(record, {"manifest": str(mf.path)})
    return out
