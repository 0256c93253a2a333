"""Prompt sets for generation toxicity: ToxiGen prompts by target group, and RealToxicityPrompts.

Both come from local files (the shared folder's layout) or the hub; subsampling is by md5(seed:id), so the same
seed picks the same prompts whatever the file order.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from toxmix.core.datasets import group_of_file
from toxmix.core.errors import ToxmixError
from toxmix.core.settings import shared_path

RTP_HUB = "allenai/real-toxicity-prompts"
TOXIGEN_HUB = "toxigen/toxigen-data"  # its "prompts" config: one split per prompt file


@dataclass(frozen=True)
class Prompt:
    """One prompt: a stable id, its text, its group (ToxiGen target group or RTP file/attribute) and kind."""

    id: str
    text: str
    group: str
    kind: str  # toxigen: hate|neutral; rtp: the source file's attribute or 'rtp'


@dataclass(frozen=True)
class PromptSet:
    """A named list of prompts and where they came from."""

    name: str  # toxigen | rtp
    source: str
    prompts: tuple[Prompt, ...]

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for p in self.prompts:
            h.update(f"{p.id}\t{p.group}\t{p.kind}\t{p.text}\n".encode())
        return h.hexdigest()

    def __len__(self) -> int:
        return len(self.prompts)


def subsample(prompts: list[Prompt], n: int | None, seed: int) -> tuple[Prompt, ...]:
    """At most n prompts, the first n by md5(seed:id), kept in file order."""
    if n is None or n >= len(prompts):
        return tuple(prompts)
    if n < 1:
        raise ToxmixError(f"asked for {n} prompts; give a positive number")
    rank = sorted(range(len(prompts)), key=lambda i: hashlib.md5(f"{seed}:{prompts[i].id}".encode()).hexdigest())
    keep = set(rank[:n])
    return tuple(p for i, p in enumerate(prompts) if i in keep)


def toxigen_prompts(spec: str = "toxigen", n: int | None = None, seed: int = 0) -> PromptSet:
    """ToxiGen prompts: `toxigen` (the shared `data/toxigen/prompts`), a folder of `hate_*/neutral_*` files, or
    `toxigen-hub`. Each line is `- sentence\\n- sentence\\n...-` with literal `\\n`, turned into newlines."""
    if spec == "toxigen-hub":
        return _toxigen_hub(n, seed)
    root = shared_path("data", "toxigen", "prompts") if spec == "toxigen" else Path(spec)
    if not root.is_dir():
        raise ToxmixError(f"ToxiGen prompts not found at {root}; set TOXMIX_SHARED, give a folder of "
                          "hate_<group>_1k.txt / neutral_<group>_1k.txt files, or use toxigen-hub online")
    prompts = []
    for file in sorted(root.glob("*.txt")):
        kind = file.name.split("_")[0]
        if kind not in ("hate", "neutral"):
            continue
        group = group_of_file(file.name)
        for i, line in enumerate(file.read_text(encoding="utf-8", errors="replace").splitlines()):
            text = line.replace("\\n", "\n").strip()
            if text:
                prompts.append(Prompt(f"toxigen:{file.stem}:{i}", text if text.endswith("-") else text + "\n-",
                                      group, kind))
    if not prompts:
        raise ToxmixError(f"{root} holds no hate_*.txt or neutral_*.txt prompt files")
    return PromptSet("toxigen", str(root), subsample(prompts, n, seed))


def _hub(repo: str, offline: str, **kwargs):
    """A hub dataset, or a one-line error naming the offline alternative."""
    from datasets import load_dataset

    try:
        return load_dataset(repo, **kwargs)
    except Exception as e:  # noqa: BLE001 - the hub raises many types; the message is what matters
        raise ToxmixError(f"cannot load {repo} from the hub ({type(e).__name__}); offline, use {offline}") from None


def _toxigen_hub(n: int | None, seed: int) -> PromptSet:
    ds = _hub(TOXIGEN_HUB, "toxigen (the shared prompt files)", name="prompts")
    prompts = []
    for split, rows in ds.items():
        kind = split.split("_")[0]
        for i, row in enumerate(rows):
            prompts.append(Prompt(f"toxigen-hub:{split}:{i}", row["text"].replace("\\n", "\n").strip(),
                                  group_of_file(split), kind))
    return PromptSet("toxigen", f"hub:{TOXIGEN_HUB}", subsample(prompts, n, seed))


def _rtp_rows(file: Path) -> list[tuple[str, str]]:
    """(text, attribute) rows of a TXT (one prompt a line) or JSONL (`prompt.text` or `text`) file."""
    attribute = file.stem.removeprefix("rtp_")
    if file.suffix == ".txt":
        return [(line.strip(), attribute) for line in file.read_text(encoding="utf-8", errors="replace").splitlines()]
    rows = []
    for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise ToxmixError(f"{file}:{n} is not JSON; RTP files are .txt (one prompt a line) or .jsonl") from None
        prompt = record.get("prompt")
        text = prompt.get("text") if isinstance(prompt, dict) else record.get("text")
        if not isinstance(text, str):
            raise ToxmixError(f"{file}:{n} has no prompt.text or text field")
        rows.append((text, attribute))
    return rows


def rtp_prompts(spec: str = "rtp-sample", n: int | None = None, seed: int = 0) -> PromptSet:
    """RealToxicityPrompts: `rtp-sample` (the shared 700 prompts, 100 per Perspective attribute), a .txt/.jsonl
    file or folder of them, or the hub (`allenai/real-toxicity-prompts`)."""
    if spec == RTP_HUB or spec == "rtp-hub":
        return _rtp_hub(n, seed)
    root = shared_path("data", "rtp-sample") if spec == "rtp-sample" else Path(spec)
    files = sorted(p for p in root.glob("*") if p.suffix in (".txt", ".jsonl")) if root.is_dir() else [root]
    if not root.exists() or not files:
        raise ToxmixError(f"RealToxicityPrompts not found at {root}; give a .txt/.jsonl file or folder, set "
                          f"TOXMIX_SHARED, or use {RTP_HUB} online")
    prompts = [Prompt(f"rtp:{f.stem}:{i}", text, attribute, attribute)
               for f in files for i, (text, attribute) in enumerate(_rtp_rows(f)) if text]
    if not prompts:
        raise ToxmixError(f"{root} holds no prompts")
    return PromptSet("rtp", str(root), subsample(prompts, n, seed))


def _rtp_hub(n: int | None, seed: int) -> PromptSet:
    ds = _hub(RTP_HUB, "rtp-sample", split="train")
    prompts = [Prompt(f"rtp-hub:{i}", row["prompt"]["text"], "challenging" if row.get("challenging") else "other",
                      "rtp") for i, row in enumerate(ds)]
    return PromptSet("rtp", f"hub:{RTP_HUB}", subsample(prompts, n, seed))
