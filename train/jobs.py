"""Training jobs from typed configs: one run, or a sweep of a folder of manifests over seeds.

`toxmix train` builds these configs from its options; from Python, build them the same way and call `train` or
`sweep`: the same checks run, and a dry run plans without training, for one run or a whole sweep.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field

from toxmix.core.errors import ToxmixError
from toxmix.core.records import Config
from toxmix.train.presets import PRESETS, get_preset
from toxmix.train.record import RunRecord

Positive = Annotated[int, Field(ge=1)]


class TrainConfig(Config):
    """One run: a manifest, a preset, a seed and how long; where it goes and how it is launched."""

    FLAGS: ClassVar[dict[str, str]] = {"manifest": "MANIFEST"}

    manifest: str
    preset: str = "tiny"
    seed: int = 0
    steps: Positive | None = None
    tokens: Positive | None = None
    nproc: Positive | None = None
    nnodes: Positive = 1
    out: Path | None = None
    checkpoint_interval: Positive = 100
    wandb_project: str | None = None
    dry_run: bool = False
    wait: bool = False

    def check(self) -> None:
        if self.steps is not None and self.tokens is not None:
            raise ToxmixError("give --steps or --tokens, not both")
        if self.preset not in PRESETS:
            get_preset(self.preset)  # its error lists the presets


class SweepConfig(Config):
    """A folder of manifests (template.yaml aside), each trained with each seed, the runs under `out`."""

    FLAGS: ClassVar[dict[str, str]] = {"folder": "FOLDER", "out": "--out"}

    folder: Path
    seeds: Annotated[tuple[int, ...], Field(min_length=1)] = (0,)
    preset: str = "tiny"
    steps: Positive | None = None
    tokens: Positive | None = None
    nproc: Positive | None = None
    out: Path = Path("runs")
    checkpoint_interval: Positive = 100
    wandb_project: str | None = None
    dry_run: bool = False
    wait: bool = False

    def check(self) -> None:
        self.manifests()
        self.runs()[0]  # a run's own checks (preset, steps or tokens)

    def manifests(self) -> list[Path]:
        """The manifests of the folder, sorted."""
        if not self.folder.is_dir():
            raise ToxmixError(f"{self.folder} is not a folder of manifests")
        found = sorted(p for p in self.folder.glob("*.yaml") if p.name != "template.yaml")
        if not found:
            raise ToxmixError(f"no manifests (*.yaml other than template.yaml) in {self.folder}")
        return found

    def runs(self) -> list[TrainConfig]:
        """One run config per manifest and seed, each in OUT/<manifest>-<preset>-s<seed>."""
        from toxmix.mixer.manifest.schema import load_manifest

        shared = self.model_dump(exclude={"folder", "seeds", "out"})
        return [TrainConfig(manifest=str(path), seed=seed, out=self.out / f"{name}-{self.preset}-s{seed}", **shared)
                for path in self.manifests() for name in [load_manifest(path).name] for seed in self.seeds]


def plan(cfg: TrainConfig) -> RunRecord:
    """The run record of a config: resolved and materialized unless it is a dry run (which prepares nothing)."""
    from toxmix.train.plan import plan_run

    return plan_run(cfg.manifest, cfg.preset, seed=cfg.seed, steps=cfg.steps, tokens=cfg.tokens, nproc=cfg.nproc,
                    nnodes=cfg.nnodes, out=str(cfg.out) if cfg.out else None,
                    checkpoint_interval=cfg.checkpoint_interval, wandb_project=cfg.wandb_project,
                    prepare=not cfg.dry_run)


@dataclass
class Outcome:
    """What a training job did: trained (exit code 0 or not), wrote a Slurm script, or only planned."""

    run: RunRecord
    code: int | None = None  # the trainer's exit code; None when nothing trained
    script: Path | None = None  # the Slurm script of a multi-node run

    @property
    def status(self) -> str:
        return "planned" if self.code is None else "done" if self.code == 0 else "failed"


def train(cfg: TrainConfig, on_start: Callable[[RunRecord], None] | None = None) -> Outcome:
    """Plan the run; under the run folder's one-writer lock, save its record and train it (one node), or write
    its Slurm script (several nodes); record it in the registry beside the run folder. A dry run only plans."""
    from toxmix.train.launch import launch, run_writer, slurm_script
    from toxmix.train.registry import record_run

    run = plan(cfg)
    if cfg.dry_run:
        return Outcome(run)
    with run_writer(run.run_dir, cfg.wait):
        run.save()
        if run.nnodes > 1:
            script = Path(run.run_dir) / "slurm.sbatch"
            script.write_text(slurm_script(run))
            return Outcome(run, script=script)
        if on_start:
            on_start(run)
        outcome = Outcome(run, code=launch(run))
        record_run(Path(run.run_dir).parent, run, outcome.status)
    return outcome


def sweep(cfg: SweepConfig, on_start: Callable[[RunRecord], None] | None = None) -> list[Outcome]:
    """Train every run of the sweep in turn (a dry run plans each and trains none)."""
    return [train(run, on_start) for run in cfg.runs()]
