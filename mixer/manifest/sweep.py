"""`toxmix manifest sweep`: the study's family of manifests, one per share of the swept component."""

import copy
import os
from pathlib import Path

import yaml

from toxmix.core.errors import ToxmixError
from toxmix.core.lists import parse_list
from toxmix.mixer.manifest.schema import load_manifest


def parse_ratios(text: str) -> list[float]:
    """`0,0.05,0.1` -> [0.0, 0.05, 0.1], each in [0, 1)."""
    ratios = parse_list(text, float, "--ratios")
    if any(not (0 <= r < 1) for r in ratios):
        raise ToxmixError(f"--ratios must be numbers in [0, 1), got {text!r}")
    return ratios


def ratio_tag(ratio: float) -> str:
    """0.05 -> '05', 0.1 -> '10', 0.025 -> '2.5'."""
    pct = round(ratio * 100, 6)
    return f"{int(pct):02d}" if pct.is_integer() else f"{pct:g}"


def sweep(template: str | Path, ratios: list[float], out_dir: str | Path, component: str | None = None) -> list[Path]:
    """Write one manifest per ratio: the swept component's share (or ratio_of) set to it, dropped at 0."""
    mf = load_manifest(template)
    manifest, base = mf.manifest, mf.base
    data = yaml.safe_load(Path(template).read_text())
    swept = [c for c in manifest.components if c.share is not None or c.ratio_of is not None]
    if component is not None:
        swept = [c for c in manifest.components if c.name == component]
        if not swept:
            raise ToxmixError(f"--component: no component {component!r} in {template}")
    if len(swept) != 1:
        raise ToxmixError(f"{template}: name the component to sweep with --component "
                          f"(candidates: {', '.join(c.name for c in swept) or 'none'})")
    name = swept[0].name
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus = (base / manifest.corpus).resolve()
    written = []
    for ratio in ratios:
        doc = copy.deepcopy(data)
        doc["name"] = f"{manifest.name}-{ratio_tag(ratio)}"
        doc["corpus"] = os.path.relpath(corpus, out.resolve())
        comps = []
        for c in doc["components"]:
            if c["name"] == name:
                if ratio == 0:
                    continue
                if "share" in c:
                    c["share"] = ratio
                elif "ratio_of" in c:
                    c["ratio_of"]["ratio"] = ratio
                else:
                    raise ToxmixError(f"component {name!r} has an absolute size; sweep a share or ratio_of")
            comps.append(c)
        doc["components"] = comps
        if ratio == 0 and doc.get("transforms"):
            doc["transforms"] = [t for t in doc["transforms"] if t.get("components") != [name]]
        path = out / f"{doc['name']}.yaml"
        header = (f"# {doc['name']}: {ratio_tag(ratio)}% {name} tokens; "
                  f"written by 'toxmix manifest sweep' from {Path(template).name}\n")
        path.write_text(header + yaml.safe_dump(doc, sort_keys=False))
        load_manifest(path)
        written.append(path)
    return written
