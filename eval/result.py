"""The eval result (`result.json`, version 1) and its Parquet tables: what `toxmix report` reads.

An eval folder holds `result.json` (an `EvalResult`), `generations.parquet` (one row per condition, prompt set,
prompt and sample, with its toxicity or null when unscored) and, when measured, `groups.parquet`.
"""

from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field

from toxmix.core.model_identity import ModelIdentity
from toxmix.core.records import Frozen, Record
from toxmix.eval.metrics import ToxicityFigures
from toxmix.train.record import ExportRecord

RESULT_VERSION = 1
RESULT_FILE = "result.json"
GENERATIONS_FILE = "generations.parquet"


class CrossEntropy(Frozen):
    """Token-weighted mean cross-entropy (nats per token) over held-out texts."""

    value: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    tokens: Annotated[int, Field(ge=0)]
    texts: Annotated[int, Field(ge=0)]
    source: str


class TaskScore(Frozen):
    """Accuracy of one task on n items: by summed log-likelihood and by log-likelihood per character."""

    task: str
    n: int
    acc: float
    len_norm: float


class ScorerIdentity(Frozen):
    """What scored the generations: the spec, the scorer's name and version, the label read, its training data."""

    spec: str
    name: str
    version: str
    label: str
    trained_on: list[str] | None  # None when unknown (hub models, Detoxify, Perspective)


class Sampling(Frozen):
    """How continuations are sampled."""

    top_p: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.9
    max_new_tokens: Annotated[int, Field(ge=1)] = 20
    k: Annotated[int, Field(ge=1)] = 25
    seed: int = 0
    batch_size: Annotated[int, Field(ge=1)] = 32  # prompts per batch (each expanded to k rows)


class ModelRef(Frozen):
    """The model evaluated: its identity, and where toxmix trained it (None for outside models)."""

    identity: ModelIdentity
    export: ExportRecord | None = None

    @property
    def toxic_share(self) -> float | None:
        return self.export.toxic_share if self.export else None


class ITIRef(Frozen):
    """The ITI file used: path, sha256, heads steered, the probe run it came from."""

    path: str
    sha256: str
    heads: int
    probe_run: str


class PromptSetRef(Frozen):
    name: str
    source: str
    prompts: Annotated[int, Field(ge=0)]
    digest: str


class ConditionResult(Frozen):
    """Everything measured under one condition (base, ITI at α, prompting, a MEDA/INST prefix)."""

    method: str
    alpha: float
    prefix: str | None
    label: str
    toxicity: dict[str, ToxicityFigures]  # by prompt set
    groups: dict[str, dict[str, ToxicityFigures]]  # prompt set -> group -> figures
    cross_entropy: CrossEntropy | None
    tasks: list[TaskScore]
    cached_generations: bool


class EvalResult(Record):
    """One `toxmix eval` run."""

    model_config = ConfigDict(frozen=True)
    KIND: ClassVar[str] = "eval result"
    VERSION: ClassVar[int] = RESULT_VERSION
    REMEDY: ClassVar[str] = "run 'toxmix eval MODEL --out DIR' to make one"

    version: int = RESULT_VERSION
    toxmix_version: str
    label: str
    model: ModelRef
    iti: ITIRef | None
    scorer: ScorerIdentity | None  # None when no prompts were asked for (capability only)
    scorer_overlap: str | None
    scorer_failures: dict[str, int]
    sampling: Sampling
    threads: int
    bootstrap: int
    prompt_sets: list[PromptSetRef]
    conditions: list[ConditionResult]
    notes: list[str]
    seconds: float

    def save(self, out: Path) -> Path:
        return self.write(Path(out) / RESULT_FILE)

    @classmethod
    def load(cls, folder: str | Path) -> "EvalResult":
        return cls.read(Path(folder) / RESULT_FILE)
