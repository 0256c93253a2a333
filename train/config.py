"""A training run's resolved configuration, and the OLMo-core configs it builds."""

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from mixer.errors import ToxmixError
from train.presets import Preset, model_config, padded_vocab_size


@dataclass
class TrainRun:
    """Everything a run needs, resolved from a manifest's lock; saved as run.json in the run directory."""

    name: str
    run_dir: str
    manifest: str
    lock_file: str
    lock_digest: str
    shards_digest: str
    preset: dict
    seed: int
    paths: list[str]
    label_mask_paths: list[str] | None
    dtype: str
    eos_id: int
    pad_id: int
    vocab_size: int
    tokenizer: str
    steps: int | None = None
    tokens: int | None = None
    device: str = "cpu"
    nproc: int = 1
    nnodes: int = 1
    checkpoint_interval: int = 100
    wandb_project: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def settings(self) -> Preset:
        p = dict(self.preset)
        p["betas"] = tuple(p["betas"])
        return Preset(**p)

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
        path = Path(self.run_dir) / "run.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, run_dir: str | Path) -> "TrainRun":
        path = Path(run_dir) / "run.json"
        if not path.is_file():
            raise ToxmixError(f"{run_dir} is not a toxmix run: no run.json (start one with 'toxmix train')")
        return cls(**json.loads(path.read_text()))

    def instances(self) -> int:
        """Training sequences in one epoch (OLMo-core drops each file's tail shorter than a sequence)."""
        itemsize = np.dtype(self.dtype).itemsize
        seq = self.settings.sequence_length
        return sum(Path(p).stat().st_size // itemsize // seq for p in self.paths)

    def planned_steps(self) -> int:
        """Optimizer steps the run will take."""
        batch = self.settings.global_batch_sequences
        if self.steps:
            return self.steps
        if self.tokens:
            return max(1, -(-self.tokens // (batch * self.settings.sequence_length)))
        return self.instances() // batch

    def check_fits(self) -> None:
        """Refuse a mixture too small for one batch, or a batch that does not split over the ranks."""
        p = self.settings
        world = self.nproc * self.nnodes
        instances = self.instances()
        if instances < p.global_batch_sequences:
            raise ToxmixError(
                f"the mixture holds {instances:,} sequences of {p.sequence_length} tokens, fewer than one batch of "
                f"{p.global_batch_sequences:,} for preset {p.name!r}; use a smaller preset or a larger manifest"
            )
        if p.global_batch_sequences % world or (p.global_batch_sequences // world) % self.microbatch_sequences():
            raise ToxmixError(f"global batch {p.global_batch_sequences} sequences does not split into {world} ranks "
                              f"x micro-batches of {self.microbatch_sequences()}")

    def microbatch_sequences(self) -> int:
        """Sequences per forward pass on a rank: the preset's, or the whole rank batch when that is smaller."""
        p = self.settings
        return min(p.rank_microbatch_sequences, max(1, p.global_batch_sequences // (self.nproc * self.nnodes)))


def with_overrides(preset: Preset, steps: int | None) -> Preset:
    """Clamp warm-up to a tenth of a short run, so CPU runs reach their peak learning rate."""
    if steps is not None and preset.warmup_steps > steps // 10:
        return replace(preset, warmup_steps=max(1, steps // 10))
    return preset


def olmo_core_configs(run: TrainRun) -> dict:
    """The OLMo-core configs of a run: model, dataset, data loader, train module and trainer."""
    from olmo_core.config import DType
    from olmo_core.data import NumpyDataLoaderConfig, NumpyFSLDatasetConfig, TokenizerConfig
    from olmo_core.data.types import NumpyDatasetDType
    from olmo_core.distributed.parallel import DataParallelType
    from olmo_core.optim import AdamWConfig, CosWithWarmup, OptimGroupOverride
    from olmo_core.train import Duration, TrainerConfig
    from olmo_core.train.callbacks import CheckpointerCallback, ConsoleLoggerCallback
    from olmo_core.train.train_module import TransformerDataParallelConfig, TransformerTrainModuleConfig

    from train.callbacks import JsonlMetricsCallback, ProgressCallback

    p = run.settings
    tokenizer = TokenizerConfig(vocab_size=run.vocab_size, eos_token_id=run.eos_id, pad_token_id=run.pad_id)
    dataset = NumpyFSLDatasetConfig(
        paths=list(run.paths), sequence_length=p.sequence_length, tokenizer=tokenizer,
        dtype=NumpyDatasetDType(run.dtype), label_mask_paths=run.label_mask_paths,
        work_dir=str(Path(run.run_dir) / "dataset-cache"),
    )
    data_loader = NumpyDataLoaderConfig(global_batch_size=p.global_batch_tokens, seed=run.seed, num_workers=0)
    gpu = run.device == "cuda"
    world = run.nproc * run.nnodes
    train_module = TransformerTrainModuleConfig(
        rank_microbatch_size=run.microbatch_sequences() * p.sequence_length,
        max_sequence_length=p.sequence_length,
        optim=AdamWConfig(lr=p.lr, betas=p.betas, weight_decay=p.weight_decay,
                          group_overrides=[OptimGroupOverride(params=["embeddings.weight"],
                                                              opts={"weight_decay": 0.0})]),
        scheduler=CosWithWarmup(warmup=p.warmup_steps, alpha_f=p.final_lr_fraction),
        max_grad_norm=p.max_grad_norm,
        dp_config=(TransformerDataParallelConfig(name=DataParallelType.fsdp, param_dtype=DType.bfloat16,
                                                 reduce_dtype=DType.float32) if gpu
                   # several CPU processes (gloo) use DDP: FSDP's mixed precision is for GPUs
                   else TransformerDataParallelConfig(name=DataParallelType.ddp) if world > 1 else None),
    )
    if run.steps:
        duration = Duration.steps(run.steps)
    elif run.tokens:
        duration = Duration.tokens(run.tokens)
    else:
        duration = Duration.epochs(1)
    trainer = TrainerConfig(
        save_folder=str(run.checkpoints), save_overwrite=True, max_duration=duration,
        metrics_collect_interval=1 if not gpu else 10, cancel_check_interval=50, device="cuda" if gpu else "cpu",
    ).with_callback("checkpointer", CheckpointerCallback(save_interval=run.checkpoint_interval, save_async=False))
    trainer = trainer.with_callback("console_logger", ConsoleLoggerCallback(log_interval=10 ** 9))
    trainer = trainer.with_callback("jsonl_metrics", JsonlMetricsCallback(path=str(run.metrics_file)))
    trainer = trainer.with_callback("progress", ProgressCallback(enabled=run.extra.get("progress", True)))
    if run.wandb_project:
        from olmo_core.train.callbacks import WandBCallback

        trainer = trainer.with_callback("wandb", WandBCallback(name=run.name, project=run.wandb_project))
    return {"model": model_config(p, run.padded_vocab_size), "dataset": dataset, "data_loader": data_loader,
            "train_module": train_module, "trainer": trainer}


def describe(run: TrainRun) -> dict:
    """The run's resolved configuration, for --dry-run and run.json readers."""
    cfgs = olmo_core_configs(run)
    return {"run": asdict(run), "parameters": cfgs["model"].num_params,
            "planned_steps": run.planned_steps() if run.paths and all(Path(p).exists() for p in run.paths) else None,
            "model": cfgs["model"].as_config_dict(), "train_module": cfgs["train_module"].as_config_dict()}
