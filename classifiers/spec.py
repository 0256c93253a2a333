"""Scorer specs: `KIND:MODEL[,key=value...]`, parsed once and built inside each worker."""

import importlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from toxmix.core.errors import ToxmixError

if TYPE_CHECKING:  # numpy, which the scorers need, costs every command's start-up
    from toxmix.classifiers.base import Scorer


@dataclass(frozen=True)
class ScorerKind:
    """One kind of scorer: what MODEL means, the options it takes, and the class that loads it (imported lazily)."""

    model: str
    options: frozenset[str]
    loader: str  # "module:Class", called as Class(MODEL, **options)

    def load(self, model: str, **options) -> "Scorer":
        module, _, name = self.loader.partition(":")
        return getattr(importlib.import_module(module), name)(model, **options)


# The one registry of scorer kinds: a kind added here is parsed, documented and loaded everywhere.
SCORERS = {
    "fasttext": ScorerKind("fastText model file or hub repo", frozenset({"name", "level", "file", "batch_size"}),
                           "toxmix.classifiers.fasttext_scorer:FastTextScorer"),
    "detoxify": ScorerKind("Detoxify release name or 'local'",
                           frozenset({"checkpoint", "config", "name", "batch_size", "device"}),
                           "toxmix.classifiers.detoxify_scorer:DetoxifyScorer"),
    "hf": ScorerKind("sequence-classification model dir or hub id",
                     frozenset({"name", "batch_size", "max_length", "device"}),
                     "toxmix.classifiers.hf_scorer:HFClassifierScorer"),
}
_INT_OPTIONS = {"batch_size", "max_length"}
SPEC_HELP = (
    "Scorer as KIND:MODEL[,key=value...] (" + "; ".join(f"{k}: {v.model}" for k, v in SCORERS.items()) + "): "
    "fasttext:models/toxicity.bin, "
    "fasttext:allenai/dolma-jigsaw-fasttext-bigrams-hatespeech, detoxify:original, "
    "detoxify:original,checkpoint=ckpt.pt,config=bert-dir, hf:tomh/toxigen_roberta. Repeatable."
)


@dataclass(frozen=True)
class ScorerSpec:
    """A parsed scorer spec; hashable and picklable, so datatrove can ship it to workers."""

    kind: str
    model: str
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> "ScorerSpec":
        """Parse `KIND:MODEL[,key=value...]`, refusing unknown kinds and options."""
        kind, sep, rest = text.partition(":")
        if not sep or kind not in SCORERS:
            raise ToxmixError(f"bad scorer spec {text!r}: expected KIND:MODEL with KIND in {', '.join(SCORERS)}")
        model, *pairs = rest.split(",")
        if not model:
            raise ToxmixError(f"bad scorer spec {text!r}: no model after '{kind}:'")
        options = []
        for pair in pairs:
            key, eq, value = pair.partition("=")
            if not eq or key not in SCORERS[kind].options:
                allowed = ", ".join(sorted(SCORERS[kind].options))
                raise ToxmixError(f"bad option {pair!r} in scorer spec {text!r}; {kind} takes: {allowed}")
            if key in _INT_OPTIONS and not value.isdigit():
                raise ToxmixError(f"option {key} in scorer spec {text!r} must be a positive integer")
            options.append((key, value))
        return cls(kind, model, tuple(options))

    def __str__(self) -> str:
        return ":".join([self.kind, ",".join([self.model, *(f"{k}={v}" for k, v in self.options)])])

    def kwargs(self) -> dict:
        """Options as keyword arguments for the scorer's constructor."""
        return {k: int(v) if k in _INT_OPTIONS else v for k, v in self.options}


def build_scorer(spec: ScorerSpec) -> "Scorer":
    """Load the scorer a spec names (cached per process, so a worker loads each model once; a local model file
    that changed since, e.g. retrained to the same path, is loaded again)."""
    path = Path(spec.model).expanduser()
    stamp = (path.stat().st_size, path.stat().st_mtime_ns) if path.exists() else None
    return _load(spec, stamp)


@lru_cache(maxsize=16)
def _load(spec: ScorerSpec, stamp: tuple[int, int] | None) -> "Scorer":
    return SCORERS[spec.kind].load(spec.model, **spec.kwargs())
