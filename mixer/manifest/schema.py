"""The typed manifest schema, and loading a manifest file with errors that name the field."""

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from toxmix.core.errors import ToxmixError
from toxmix.core.files import canonical_sha256
from toxmix.core.records import Frozen
from toxmix.core.settings import DEFAULT_TOKENIZER
from toxmix.mixer.corpus.store import NAME_RE, CorpusLayout

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
TokenCount = Annotated[int, Field(gt=0, le=10**15, strict=True)]  # strict: `true` is not 1 token
MAX_EPOCHS = 1000
MIXTURE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


class RatioOf(Frozen):
    """This component's tokens as a multiple of another component's."""

    component: str
    ratio: PositiveFloat


class Component(Frozen):
    """One part of the mixture: documents of some sources, optionally filtered, sized in tokens."""

    name: str
    source: str | list[str]
    where: str | None = None
    tokens: TokenCount | None = None
    share: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] | None = None
    ratio_of: RatioOf | None = None
    max_epochs: Annotated[float, Field(gt=0, le=MAX_EPOCHS, allow_inf_nan=False)] = 1.0
    label_mask: bool = True
    role: Literal["clean"] | None = None  # the reference data: the toxic share and held-out text are measured on it

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("use a letter then letters, digits or '_'")
        return v

    @property
    def sources(self) -> list[str]:
        return [self.source] if isinstance(self.source, str) else list(self.source)

    @model_validator(mode="after")
    def _one_size(self) -> "Component":
        given = [k for k in ("tokens", "share", "ratio_of") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of tokens, share, ratio_of (got {', '.join(given) or 'none'})")
        if not self.sources:
            raise ValueError("source must name at least one source")
        return self


class Transform(Frozen):
    """A data-side baseline: prefix each document with its toxicity bucket (MEDA) or an instruction (INST)."""

    kind: Literal["meda", "inst"]
    attribute: str
    thresholds: list[float] = [0.5]
    labels: list[str] | None = None
    components: list[str] | None = None

    @model_validator(mode="after")
    def _buckets(self) -> "Transform":
        if any(not (0 <= t <= 1) or math.isnan(t) for t in self.thresholds) or self.thresholds != sorted(
                self.thresholds):
            raise ValueError("thresholds must be ascending numbers in [0, 1]")
        if self.labels is not None and len(self.labels) != len(self.thresholds) + 1:
            raise ValueError(f"labels needs {len(self.thresholds) + 1} entries, one per bucket")
        return self


class Output(Frozen):
    """Where token files go and how they are cut."""

    dir: str | None = None
    shard_tokens: TokenCount = 50_000_000


class Manifest(Frozen):
    """A mixture manifest."""

    name: str
    corpus: str
    tokenizer: str = DEFAULT_TOKENIZER
    seed: int
    total_tokens: TokenCount | None = None
    components: list[Component]
    transforms: list[Transform] = []
    output: Output = Output()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not MIXTURE_NAME_RE.match(v):
            raise ValueError("use a letter, then letters, digits, '_' or '-' (at most 64 characters): the name "
                             "becomes file names")
        return v

    @model_validator(mode="after")
    def _components(self) -> "Manifest":
        names = [c.name for c in self.components]
        if not names:
            raise ValueError("components: at least one component is needed")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"components: duplicate component name {dupes[0]!r}")
        for c in self.components:
            if c.ratio_of and c.ratio_of.component not in names:
                raise ValueError(f"components.{c.name}.ratio_of: unknown component {c.ratio_of.component!r}")
        for t in self.transforms:
            for n in t.components or []:
                if n not in names:
                    raise ValueError(f"transforms: unknown component {n!r}")
        clean = [c.name for c in self.components if c.role == "clean"]
        if len(clean) > 1:
            raise ValueError(f"components: one component can have role: clean, not {len(clean)} ({', '.join(clean)})")
        if not clean and len(self.components) > 1:
            raise ValueError("components: mark the clean (reference) component with role: clean; the toxic share "
                             "and the held-out text of eval are measured against it")
        shares = sum(c.share or 0 for c in self.components)
        if shares > 1 + 1e-12:
            raise ValueError(f"components: shares add up to {shares:g}, more than 1")
        return self


    @property
    def clean_component(self) -> Component:
        """The component marked `role: clean` (a one-component manifest's only component)."""
        return next((c for c in self.components if c.role == "clean"), self.components[0])


def _field_path(loc: tuple) -> str:
    return ".".join(str(p) for p in loc if p not in ("function-after",)) or "manifest"


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


@dataclass(frozen=True)
class ManifestFile:
    """A parsed manifest and the file it came from; relative paths inside it resolve against its folder."""

    manifest: Manifest
    path: Path

    @property
    def base(self) -> Path:
        return self.path.parent

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def lock_path(self) -> Path:
        """`M.yaml` -> `M.lock.json`, beside the manifest."""
        return self.path.with_name(self.path.name.removesuffix(".yaml").removesuffix(".yml") + ".lock.json")

    @property
    def sha256(self) -> str:
        """sha256 of the parsed manifest (comments and key order do not count)."""
        return canonical_sha256(self.manifest.model_dump(mode="json"))

    def corpus(self) -> CorpusLayout:
        """The corpus the manifest names."""
        return CorpusLayout.at(self.base / Path(self.manifest.corpus).expanduser(), must_exist=True)


def as_manifest_file(manifest: "str | Path | ManifestFile") -> ManifestFile:
    """A manifest given as a path is parsed; a parsed one is passed through (so a command parses once)."""
    return manifest if isinstance(manifest, ManifestFile) else load_manifest(manifest)


def load_manifest(path: str | Path) -> ManifestFile:
    """Parse and check a manifest file; errors name the field (`components.toxic.share: ...`)."""
    path = Path(path)
    if not path.is_file():
        raise ToxmixError(f"manifest not found: {path}")
    return parse_manifest(path.read_text(), path)


def parse_manifest(text: str, path: Path) -> ManifestFile:
    """Parse and check a manifest's text as if it were the file at `path` (its relative paths resolve there)."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ToxmixError(f"{path}: malformed YAML{where}: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise ToxmixError(f"{path}: a manifest is a YAML mapping with name, corpus, seed and components")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = list(err["loc"])
        if len(loc) >= 2 and loc[0] == "components" and isinstance(loc[1], int):
            comps = data.get("components") or []
            if loc[1] < len(comps) and isinstance(comps[loc[1]], dict) and "name" in comps[loc[1]]:
                loc[1] = comps[loc[1]]["name"]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        raise ToxmixError(f"{path}: {_field_path(tuple(loc))}: {msg}") from None
    return ManifestFile(manifest, path.resolve())
