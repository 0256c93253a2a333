"""The run record (run.json), its metrics (metrics.jsonl) and checkpoints: what probe and eval read of a run.

A run folder holds `run.json` (a `RunRecord`), `metrics.jsonl` (one `MetricRow` per step) and
`checkpoints/stepN/`. The record is typed and versioned; an unknown version or a missing field is refused
with a one-line error naming it.
"""

import re
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from toxmix.core.errors import ToxmixError
from toxmix.core.model_identity import EXPORT_RECORD_FILE
from toxmix.core.records import Record
from toxmix.train.presets import Preset, padded_vocab_size

RUN_RECORD_VERSION = 1


class RunRecord(Record):
    """Everything a run needs, resolved from a manifest's lock; saved as run.json in the run folder."""

    KIND: ClassVar[str] = "run record"
    VERSION: ClassVar[int] = RUN_RECORD_VERSION
    REMEDY: ClassVar[str] = "start the run with 'toxmix train' (a folder of an older toxmix: train again)"

    version: int = RUN_RECORD_VERSION
    name: str
    run_dir: str
    manifest: str
    lock_file: str
    lock_digest: str
    shards_digest: str
    preset: Preset
    seed: int  # initialization and data order (the manifest's selection seed is in the lock)
    paths: list[str]
    label_mask_paths: list[str] | None
    dtype: str
    eos_id: int
    pad_id: int
    vocab_size: int
    tokenizer: str
    steps: int | None = None
    tokens: int | None = None
    device: str = "cpu"  # where the job trains: decided when planned, checked when it starts
    nproc: int = 1
    nnodes: int = 1
    dp: str | None = None  # data parallel: fsdp | hsdp | ddp, or None for one process
    checkpoint_interval: int = 100
    keep_every: int | None = None  # checkpoints every this many steps are kept for good; None: the newest 3
    compile: bool = False  # torch.compile the model's blocks
    attention: Literal["torch", "flash_2"] = "torch"  # the attention kernels: PyTorch's SDPA, or flash-attn 2
    wandb_project: str | None = None
    progress: bool = True

    @property
    def padded_vocab_size(self) -> int:
        return padded_vocab_size(self.vocab_size)

    @property
    def checkpoints(self) -> Path:
        return Path(self.run_dir) / "checkpoints"

    @property
    def metrics_file(self) -> Path:
        return Path(self.run_dir) / "metrics.jsonl"

    def save(self) -> Path:
        """Write run.json atomically."""
        return self.write(Path(self.run_dir) / "run.json")

    @classmethod
    def load(cls, run_dir: str | Path) -> "RunRecord":
        """Read run.json; refuse another version or a missing field with a one-line error."""
        return cls.read(Path(run_dir) / "run.json")

    def instances(self) -> int:
        """Training sequences in one epoch (OLMo-core drops each file's tail shorter than a sequence)."""
        itemsize = np.dtype(self.dtype).itemsize
        seq = self.preset.sequence_length
        return sum(Path(p).stat().st_size // itemsize // seq for p in self.paths)

    def planned_steps(self) -> int:
        """Optimizer steps the run will take."""
        batch = self.preset.global_batch_sequences
        if self.steps:
            return self.steps
        if self.tokens:
            return max(1, -(-self.tokens // (batch * self.preset.sequence_length)))
        return self.instances() // batch

    def microbatch_sequences(self) -> int:
        """Sequences per forward pass on a rank: the preset's, or the whole rank batch when that is smaller."""
        p = self.preset
        return min(p.rank_microbatch_sequences, max(1, p.global_batch_sequences // (self.nproc * self.nnodes)))

    def check_fits(self) -> None:
        """Refuse a mixture too small for one batch, or a batch that does not split over the ranks."""
        p = self.preset
        world = self.nproc * self.nnodes
        instances = self.instances()
        if instances < p.global_batch_sequences:
            raise ToxmixError(
                f"the mixture holds {instances:,} sequences of {p.sequence_length} tokens, fewer than one batch of "
                f"{p.global_batch_sequences:,} for preset {p.name!r}; use a smaller preset or --batch-sequences, or a "
                f"larger manifest"
            )
        if p.global_batch_sequences % world or (p.global_batch_sequences // world) % self.microbatch_sequences():
            raise ToxmixError(f"global batch {p.global_batch_sequences} sequences does not split into {world} ranks "
                              f"x micro-batches of {self.microbatch_sequences()}")


class MetricRow(BaseModel):
    """One line of metrics.jsonl: a step's loss, learning rate, grad norm and throughput."""

    model_config = ConfigDict(extra="ignore")

    step: int
    time: float | None = None
    loss: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    tokens_per_s: float | None = None
    mfu: float | None = None
    tokens: float | None = None


def read_metrics(path: str | Path) -> list[MetricRow]:
    """The rows of a metrics.jsonl file (none when it does not exist yet)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [MetricRow.model_validate_json(ln) for ln in path.read_text().splitlines() if ln.strip()]


def checkpoint_steps(folder: str | Path) -> list[tuple[int, Path]]:
    """The complete `stepN` checkpoints in a folder, oldest first."""
    found = [(int(m.group(1)), p) for p in Path(folder).glob("step*")
             if (m := re.fullmatch(r"step(\d+)", p.name)) and (p / "model_and_optim").is_dir()]
    return sorted(found)


def run_finished(run: RunRecord) -> bool:
    """Whether the run's newest checkpoint is its last planned step (the trainer saves one when it ends)."""
    steps = checkpoint_steps(run.checkpoints)
    return bool(steps) and steps[-1][0] >= run.planned_steps()


def latest_checkpoint(run: RunRecord, step: int | None = None) -> Path:
    """The newest (or the given) stepN checkpoint folder of a run."""
    steps = [s for s in checkpoint_steps(run.checkpoints) if step is None or s[0] == step]
    if not steps:
        raise ToxmixError(f"no checkpoint{f' at step {step}' if step is not None else ''} in {run.checkpoints}")
    return steps[-1][1]


EXPORT_RECORD_VERSION = 1


class ExportRecord(Record):
    """`toxmix_export.json` in an exported model folder: which run, step, lock and mixture the weights came from."""

    model_config = ConfigDict(frozen=True)
    KIND: ClassVar[str] = "export record"
    VERSION: ClassVar[int] = EXPORT_RECORD_VERSION
    REMEDY: ClassVar[str] = "export the run again"

    version: int = EXPORT_RECORD_VERSION
    run_name: str
    run_dir: str
    step: int
    seed: int
    preset: str
    manifest: str
    lock_file: str
    lock_digest: str
    shards_digest: str
    components: dict[str, int]  # tokens per mixture component
    clean_component: str  # the lock's `role: clean` component: the toxic share is measured against it

    @property
    def toxic_share(self) -> float | None:
        """Share of training tokens outside the clean component."""
        total = sum(self.components.values())
        if self.clean_component not in self.components or not total:
            return None
        return 1 - self.components[self.clean_component] / total

    def save(self, folder: Path) -> Path:
        return self.write(Path(folder) / EXPORT_RECORD_FILE)

    @classmethod
    def find(cls, folder: str | Path) -> "ExportRecord | None":
        """The record of a model folder exported by toxmix; None for any other model."""
        path = Path(folder) / EXPORT_RECORD_FILE
        if not path.is_file():
            return None
        return cls.read(path)
