"""Scorer specs: `KIND:MODEL[,key=value...]`, parsed once and built inside each worker."""

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from toxmix.classifiers.base import Scorer
from toxmix.core.errors import ToxmixError

KINDS = {
    "fasttext": "fastText model file or hub repo (options: name, level=document|sentence, file, batch_size)",
    "detoxify": "Detoxify release name or 'local' (options: checkpoint, config, name, batch_size, device)",
    "hf": "sequence-classification model dir or hub id (options: name, batch_size, max_length, device)",
}
_INT_OPTIONS = {"batch_size", "max_length"}
_ALLOWED = {
    "fasttext": {"name", "level", "file", "batch_size"},
    "detoxify": {"checkpoint", "config", "name", "batch_size", "device"},
    "hf": {"name", "batch_size", "max_length", "device"},
}
SPEC_HELP = (
    "Scorer as KIND:MODEL[,key=value...]: fasttext:models/toxicity.bin, "
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
        if not sep or kind not in KINDS:
            raise ToxmixError(f"bad scorer spec {text!r}: expected KIND:MODEL with KIND in {', '.join(KINDS)}")
        model, *pairs = rest.split(",")
        if not model:
            raise ToxmixError(f"bad scorer spec {text!r}: no model after '{kind}:'")
        options = []
        for pair in pairs:
            key, eq, value = pair.partition("=")
            if not eq or key not in _ALLOWED[kind]:
                allowed = ", ".join(sorted(_ALLOWED[kind]))
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


def build_scorer(spec: ScorerSpec) -> Scorer:
    """Load the scorer a spec names (cached per process, so a worker loads each model once; a local model file
    that changed since, e.g. retrained to the same path, is loaded again)."""
    path = Path(spec.model).expanduser()
    stamp = (path.stat().st_size, path.stat().st_mtime_ns) if path.exists() else None
    return _load(spec, stamp)


@lru_cache(maxsize=16)
def _load(spec: ScorerSpec, stamp: tuple[int, int] | None) -> Scorer:
    if spec.kind == "fasttext":
        from toxmix.classifiers.fasttext_scorer import FastTextScorer

        return FastTextScorer(spec.model, **spec.kwargs())
    if spec.kind == "detoxify":
        from toxmix.classifiers.detoxify_scorer import DetoxifyScorer

        return DetoxifyScorer(spec.model, **spec.kwargs())
    from toxmix.classifiers.hf_scorer import HFClassifierScorer

    return HFClassifierScorer(spec.model, **spec.kwargs())
