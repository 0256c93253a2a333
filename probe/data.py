"""Labelled texts for probes: ToxiGen (offline from the shared folder, or the hub), or any labelled file.

Every example has a group (ToxiGen's target group, or `--group-field`), used for the entanglement analysis and,
on request, for the split.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from toxmix.core.datasets import TOXIC, LabelRule, expand_files, group_of_file, labelled_records, read_records
from toxmix.core.errors import ToxmixError
from toxmix.core.settings import shared_path

TOXIGEN_HUB = "toxigen/toxigen-data"
PROBE_DATASETS = ("toxigen", "toxigen-hub")  # by name; anything else is a labelled file with --label-rule
MIN_PER_CLASS = 10


@dataclass(frozen=True)
class ProbeData:
    """Texts, 0/1 toxicity labels and groups, with a digest of the exact examples."""

    texts: list[str]
    labels: list[int]
    groups: list[str]
    source: str

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for t, y, g in zip(self.texts, self.labels, self.groups, strict=True):
            h.update(f"{y}\t{g}\t{t}\n".encode())
        return h.hexdigest()

    def __len__(self) -> int:
        return len(self.texts)


def _dedupe(rows: list[tuple[str, int, str]], source: str) -> ProbeData:
    seen: set[str] = set()
    kept = []
    for text, label, group in rows:
        key = " ".join(text.split()).lower()
        if key not in seen:
            seen.add(key)
            kept.append((text, label, group))
    texts, labels, groups = (list(c) for c in zip(*kept, strict=True)) if kept else ([], [], [])
    return check_classes(ProbeData(texts, labels, groups, source))


def toxigen_offline(root: Path | None = None) -> ProbeData:
    """ToxiGen's prompt and demonstration sentences (hate vs neutral, by target group), de-duplicated."""
    root = root or shared_path("data", "toxigen")
    if not root.is_dir():
        raise ToxmixError(f"ToxiGen data not found at {root}; set TOXMIX_SHARED, or use --data toxigen-hub online")
    rule = LabelRule.parse("file=hate_*/neutral_*")
    rows = []
    for file in expand_files([str(root / "prompts"), str(root / "demonstrations")]):
        label = rule.label(file.name)
        if label is None:
            continue
        rows += [(r["text"], int(label == TOXIC), group_of_file(file.name)) for r in read_records(file)]
    return _dedupe(rows, f"toxigen-offline:{root}")


def toxigen_hub() -> ProbeData:
    """The study's set: ToxiGen's human-annotated split, toxic when toxicity_ai + toxicity_human > 5.5."""
    from datasets import load_dataset

    try:
        ds = load_dataset(TOXIGEN_HUB, name="annotated", split="train")
    except Exception as e:  # noqa: BLE001 - the hub raises many types; the message is what matters
        raise ToxmixError(f"cannot load {TOXIGEN_HUB} from the hub ({type(e).__name__}); offline, use "
                          "--data toxigen (the shared prompt files)") from None
    rows = [(r["text"], int(r["toxicity_ai"] + r["toxicity_human"] > 5.5), r["target_group"]) for r in ds]
    return _dedupe(rows, f"hub:{TOXIGEN_HUB}/annotated")


def labelled_file(path: str, label_rule: str, text_field: str | None = None,
                  group_field: str | None = None) -> ProbeData:
    """Any labelled CSV, JSONL or Parquet: a rule maps a field to toxic/clean; groups from a field or the file."""
    rows = [(text, int(label == TOXIC), str(record.get(group_field)) if group_field and group_field != "file"
             else file.stem) for text, label, file, record in labelled_records(path, LabelRule.parse(label_rule),
                                                                                text_field)]
    return _dedupe(rows, f"file:{path}")


def load_probe_data(spec: str, label_rule: str | None = None, text_field: str | None = None,
                    group_field: str | None = None) -> ProbeData:
    """`toxigen` (shared folder), `toxigen-hub` (the study's annotated set), or a labelled file with a rule."""
    if spec == "toxigen":
        return toxigen_offline()
    if spec == "toxigen-hub":
        return toxigen_hub()
    if label_rule is None:
        raise ToxmixError(f"--data {spec}: give --label-rule FIELD=TOXIC/CLEAN (e.g. label=1/0), or use --data toxigen")
    return labelled_file(spec, label_rule, text_field, group_field)


def check_classes(data: ProbeData) -> ProbeData:
    """Refuse data with one class or too few examples of a class to split and fit."""
    n_toxic = sum(data.labels)
    n_clean = len(data.labels) - n_toxic
    if min(n_toxic, n_clean) < MIN_PER_CLASS:
        raise ToxmixError(f"{data.source}: {n_toxic} toxic and {n_clean} clean examples; probes need at least "
                          f"{MIN_PER_CLASS} of each class")
    return data


def split_mask(data: ProbeData, seed: int, by: str = "text", val_fraction: float = 0.2) -> list[bool]:
    """True for training examples: a 4:1 split keyed on md5(seed:text) or md5(seed:group), so duplicates (or a
    whole group) never straddle it."""
    keys = data.groups if by == "group" else [" ".join(t.split()).lower() for t in data.texts]
    cut = int((1 - val_fraction) * 2 ** 32)
    return [int(hashlib.md5(f"{seed}:{k}".encode()).hexdigest()[:8], 16) < cut for k in keys]


def subsample(data: ProbeData, n: int, seed: int) -> ProbeData:
    """At most n examples, chosen by md5(seed:text) order (independent of file order), kept in their order."""
    if n >= len(data):
        return data
    rank = sorted(range(len(data)), key=lambda i: hashlib.md5(f"{seed}:{data.texts[i]}".encode()).hexdigest())
    keep = sorted(rank[:n])
    return check_classes(ProbeData([data.texts[i] for i in keep], [data.labels[i] for i in keep],
                                   [data.groups[i] for i in keep], f"{data.source} (subsample {n}, seed {seed})"))
