"""Training jobs from typed configs: one run, or a sweep of a folder of manifests over seeds.

`toxmix train` builds these configs from its options; from Python, build them the same way and call `train` or
`sweep`: the same checks run, and a dry run plans without training, for one run or a whole sweep.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from toxmix.core.errors import ToxmixError
from toxmix.core.records import Config
from toxmix.train.presets import PRESETS, get_preset
from toxmix.train.record import RunRecord

Positive = Annotated[int, Field(ge=1)]


SLURM_TIME = r"^(\d+-)?\d+(:\d{2}){0,2}$"  # minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM:SS as sbatch reads --time


class RunOptions(Config):
    """What one run and a sweep's runs share: the preset, how long, the layout, checkpoints, speed-ups."""

    preset: str = "tiny"
    steps: Positive | None = None
    tokens: Positive | None = None
    batch_sequences: Positive | None = None
    nproc: Positive | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dp: Literal["fsdp", "hsdp", "ddp"] | None = None
    checkpoint_interval: Positive = 100
    keep_every: Positive | None = None
    compile: bool = False
    flash_attn: bool = False
    wandb_project: str | None = None
    dry_run: bool = False
    wait: bool = False

    def check(self) -> None:
        if self.steps is not None and self.tokens is not None:
            raise ToxmixError("give --steps or --tokens, not both")
        if self.preset not in PRESETS:
            get_preset(self.preset)  # its error lists the presets


class TrainConfig(RunOptions):
    """One run: a manifest, a seed, where it goes, and (on several nodes) the Slurm job that trains it."""

    FLAGS: ClassVar[dict[str, str]] = {"manifest": "MANIFEST"}

    manifest: str
    seed: int = 0
    nnodes: Positive = 1
    out: Path | None = None
    slurm_partition: str | None = None
    slurm_time: Annotated[str, Field(pattern=SLURM_TIME)] = "24:00:00"
    cpus_per_task: Positive | None = None
    submit: bool = False  # sbatch the written script
    follow: bool = False  # and stay until the Slurm job ends

    def check(self) -> None:
        super().check()
        if self.nnodes == 1 and (self.slurm_partition or self.cpus_per_task or self.submit):
            raise ToxmixError("--slurm-partition, --cpus-per-task and --submit set up the Slurm job of a multi-node "
                              "run; add --nnodes N (N > 1), or drop them to train here")
        if self.follow and not self.submit:
            raise ToxmixError("--follow stays with a submitted job: add --submit")


class SweepConfig(RunOptions):
    """A folder of manifests (template.yaml aside), each trained with each seed, the runs under `out`."""

    FLAGS: ClassVar[dict[str, str]] = {"folder": "FOLDER", "out": "--out"}

    folder: Path
    seeds: Annotated[tuple[int, ...], Field(min_length=1)] = (0,)
    out: Path = Path("runs")

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
                    prepare=not cfg.dry_run, device=cfg.device, dp=cfg.dp, keep_every=cfg.keep_every,
                    compile=cfg.compile, flash_attn=cfg.flash_attn, batch_sequences=cfg.batch_sequences)


@dataclass
class Outcome:
    """What a training job did: trained (exit code 0 or not), wrote a Slurm script, or only planned."""

    run: RunRecord
    code: int | None = None  # the trainer's exit code; None when nothing trained
    script: Path | None = None  # the Slurm script of a multi-node run
    slurm_job: str | None = None  # its job id, once submitted

    @property
    def status(self) -> str:
        return "planned" if self.code is None else "done" if self.code == 0 else "failed"


def train(cfg: TrainConfig, on_start: Callable[[RunRecord], None] | None = None,
          on_submit: Callable[[RunRecord, str], None] | None = None,
          on_step: Callable[[int], None] | None = None) -> Outcome:
    """Plan the run; under the run folder's one-writer lock, save its record and train it (one node), or write
    its Slurm script (several nodes), which `submit` sbatches and `follow` stays with; record a trained run in the
    registry beside the run folder. A dry run only plans."""
    from toxmix.train.launch import SlurmJob, follow, launch, run_writer, submit, write_cluster_scripts
    from toxmix.train.registry import record_run

    run = plan(cfg)
    if cfg.dry_run:
        return Outcome(run)
    with run_writer(run.run_dir, cfg.wait):
        run.save()
        script = None
        if run.nnodes > 1:
            script = write_cluster_scripts(run, SlurmJob(partition=cfg.slurm_partition, time=cfg.slurm_time,
                                                         cpus_per_task=cfg.cpus_per_task))
        elif on_start:
            on_start(run)
        if script is None:
            outcome = Outcome(run, code=launch(run))
            record_run(Path(run.run_dir).parent, run, outcome.status)
            return outcome
    if not cfg.submit:  # the batch step takes the run folder's lock: submit only once it is let go
        return Outcome(run, script=script)
    job = submit(script)
    if on_submit:
        on_submit(run, job)
    return Outcome(run, code=follow(run, job, on_step) if cfg.follow else None, script=script, slurm_job=job)


def sweep(cfg: SweepConfig, on_start: Callable[[RunRecord], None] | None = None) -> list[Outcome]:
    """Train every run of the sweep in turn (a dry run plans each and trains none)."""
    return [train(run, on_start) for run in cfg.runs()]


# OLMo-core's published Olmo-1B throughput is about 45K tokens/s per H100 (torch.compile, flash attention);
# without them expect about half. Used only to give a plan's wall-time range, never as a measurement.
GPU_TOKENS_PER_S = (20_000, 45_000)
OLMO_CORE_KEEPS = 3  # OLMo-core 3.0 keeps the newest 3 checkpoints of a run


def plan_summary(run: RunRecord, parameters: int) -> list[str]:
    """What a plan will do, in lines: layout, token budget and steps, checkpoints and their size, wall time."""
    from toxmix.mixer.manifest.budget import component_budgets
    from toxmix.mixer.manifest.schema import load_manifest

    batch = run.preset.global_batch_tokens
    try:
        steps = run.planned_steps()
    except OSError:  # token files not written yet: the manifest's budgets say how many tokens one epoch is
        steps = None
    tokens = steps * batch if steps else sum(component_budgets(load_manifest(run.manifest).manifest).values())
    steps = steps or -(-tokens // batch)
    world = run.nproc * run.nnodes
    layout = {"hsdp": f"HSDP: FSDP within each node of {run.nproc}, replicated across {run.nnodes} nodes",
              "fsdp": f"FSDP over {world} processes", "ddp": f"DDP over {world} processes",
              None: "one process"}[run.dp]
    size = parameters * 12 / 1e9  # fp32 weights and AdamW's two moments
    if run.keep_every is None:
        kept = f"{steps // run.checkpoint_interval:,} saved, the newest {OLMO_CORE_KEEPS} kept"
    else:
        kept = (f"the newest kept for resuming, and every {run.keep_every} steps' kept for good: "
                f"{steps // run.keep_every:,} of them, {steps // run.keep_every * parameters * 12 / 1e9:,.0f} GB")
    lines = [f"{run.name}: {parameters:,} parameters on {run.device} x {world} ({layout})",
             f"tokens {tokens:,} in {steps:,} steps of {batch:,}",
             f"checkpoints every {run.checkpoint_interval} steps, about {size:,.1f} GB each: {kept}"]
    if run.device == "cuda":
        slow, fast = (tokens / (rate * world) / 3600 for rate in GPU_TOKENS_PER_S)
        lines.append(f"expected wall time {fast:,.1f}-{slow:,.1f} hours at {GPU_TOKENS_PER_S[0]:,}-"
                     f"{GPU_TOKENS_PER_S[1]:,} tokens/s per GPU (an assumption from OLMo-core's published figure, "
                     "not a measurement)")
    return lines
