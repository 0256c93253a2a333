"""Scoring continuations for toxicity with any toxmix scorer or Perspective, and checking the scorer is fair.

Scores are float64 with NaN for a text that could not be scored; metrics count NaNs as missing, never as 0.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toxmix.classifiers.spec import ScorerSpec, build_scorer
from toxmix.core.errors import ToxmixError
from toxmix.eval.result import ScorerIdentity

TOXIC_LABELS = ("toxic", "toxicity", "hate", "offensive", "label_1")


@dataclass
class ToxicityScorer:
    """One column of a scorer: the probability of its toxic label."""

    identity: ScorerIdentity
    backend: object
    column: int

    def score(self, texts: list[str]) -> np.ndarray:
        """Toxicity per text, NaN where unscored (an empty continuation, a failed API call)."""
        out = np.full(len(texts), np.nan, dtype=np.float64)
        keep = [i for i, t in enumerate(texts) if t.strip()]
        batch = getattr(self.backend, "batch_size", 256)
        for start in range(0, len(keep), batch):
            idx = keep[start:start + batch]
            out[idx] = np.asarray(self.backend.score([texts[i] for i in idx]), dtype=np.float64)[:, self.column]
        return out

    @property
    def failures(self) -> dict[str, int]:
        return dict(getattr(self.backend, "failures", {}))


def _trained_on(spec: ScorerSpec) -> list[str] | None:
    """The datasets a toxmix-trained fastText model names in its report (None when there is no report)."""
    report = Path(spec.model).expanduser().with_name(Path(spec.model).name + ".report.json")
    if spec.kind != "fasttext" or not report.is_file():
        return None
    return list(json.loads(report.read_text()).get("datasets", []))


def build_toxicity_scorer(spec: str, label: str | None = None, perspective_url: str | None = None,
                          cache_dir: Path | None = None, qps: float = 1.0, retries: int = 5) -> ToxicityScorer:
    """`perspective` (the API; key from PERSPECTIVE_API_KEY) or any scorer spec (fasttext:, detoxify:, hf:)."""
    if spec == "perspective" or spec.startswith("perspective:"):
        from toxmix.eval.perspective import ENDPOINT, PerspectiveClient

        url = perspective_url or spec.partition(":")[2] or ENDPOINT
        client = PerspectiveClient(url, qps=qps, max_retries=retries,
                                   cache=cache_dir / "perspective.sqlite" if cache_dir else None)
        return ToxicityScorer(ScorerIdentity(spec=spec, name="perspective", version=client.version, label="toxicity",
                                             trained_on=None), client, 0)
    parsed = ScorerSpec.parse(spec)
    try:
        backend = build_scorer(parsed)
    except (OSError, ValueError) as e:
        raise ToxmixError(f"cannot load scorer {spec}: {str(e).splitlines()[0]}") from None
    labels = list(backend.labels)
    chosen = label or next((lab for lab in TOXIC_LABELS if lab in labels), None)
    if chosen not in labels:
        raise ToxmixError(f"scorer {spec} has labels {', '.join(labels)}; name the toxic one with --label")
    ident = ScorerIdentity(spec=spec, name=backend.name, version=backend.version, label=chosen,
                           trained_on=_trained_on(parsed))
    return ToxicityScorer(ident, backend, labels.index(chosen))


def check_overlap(scorer: ScorerIdentity, prompt_sets: list[str], allow: bool) -> str | None:
    """Refuse (or, with allow, warn about) a scorer trained on a prompt set it is about to score."""
    if scorer.trained_on is None:
        return None
    clash = sorted(set(prompt_sets) & set(scorer.trained_on))
    if not clash:
        return None
    message = (f"scorer {scorer.spec} was trained on {', '.join(clash)}, the prompts it would score; train one "
               f"without it (toxmix train-fasttext --exclude {clash[0]}) or pass --allow-overlap")
    if not allow:
        raise ToxmixError(message)
    return message
