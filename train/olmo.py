"""The OLMo-core configs a run record builds: model, dataset, data loader, train module and trainer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from toxmix.train.presets import Preset, model_config
from toxmix.train.record import RunRecord

if TYPE_CHECKING:
    from olmo_core.data import NumpyDataLoaderConfig, NumpyFSLDatasetConfig
    from olmo_core.nn.transformer import TransformerConfig
    from olmo_core.train import TrainerConfig
    from olmo_core.train.train_module import TransformerTrainModuleConfig


@dataclass(frozen=True)
class OlmoCoreConfigs:
    """A run's OLMo-core configs; each `build()`s its runtime object."""

    model: TransformerConfig
    dataset: NumpyFSLDatasetConfig
    data_loader: NumpyDataLoaderConfig
    train_module: TransformerTrainModuleConfig
    trainer: TrainerConfig


# ranks agree on a stop (SIGTERM, or a stop request) every this many steps: a 1B step on 16 GPUs takes ~5 s, and
# Slurm's warning comes 120 s before the end
CANCEL_CHECK_INTERVAL = 5


def stop_request(run: RunRecord) -> Path:
    """The file that asks a running trainer to checkpoint and stop (written by the Slurm job on its time warning)."""
    return Path(run.run_dir) / "stop-requested"


def with_overrides(preset: Preset, steps: int | None) -> Preset:
    """Clamp warm-up to a tenth of a short run, so CPU runs reach their peak learning rate."""
    if steps is not None and preset.warmup_steps > steps // 10:
        return preset.model_copy(update={"warmup_steps": max(1, steps // 10)})
    return preset


def olmo_core_configs(run: RunRecord) -> OlmoCoreConfigs:
    """The OLMo-core configs of a run: model, dataset, data loader, train module and trainer."""
    from olmo_core.data import NumpyDataLoaderConfig, NumpyFSLDatasetConfig, TokenizerConfig
    from olmo_core.data.types import NumpyDatasetDType
    from olmo_core.optim import AdamWConfig, CosWithWarmup, OptimGroupOverride
    from olmo_core.train import Duration, TrainerConfig
    from olmo_core.train.callbacks import ConsoleLoggerCallback
    from olmo_core.train.train_module import TransformerTrainModuleConfig

    from toxmix.train.callbacks import JsonlMetricsCallback, ProgressCallback, StopWhenAsked

    p = run.preset
    tokenizer = TokenizerConfig(vocab_size=run.vocab_size, eos_token_id=run.eos_id, pad_token_id=run.pad_id)
    dataset = NumpyFSLDatasetConfig(
        paths=list(run.paths), sequence_length=p.sequence_length, tokenizer=tokenizer,
        dtype=NumpyDatasetDType(run.dtype), label_mask_paths=run.label_mask_paths,
        work_dir=str(Path(run.run_dir) / "dataset-cache"),
    )
    data_loader = NumpyDataLoaderConfig(global_batch_size=p.global_batch_tokens, seed=run.seed, num_workers=0)
    gpu = run.device == "cuda"
    train_module = TransformerTrainModuleConfig(
        rank_microbatch_size=run.microbatch_sequences() * p.sequence_length,
        max_sequence_length=p.sequence_length,
        optim=AdamWConfig(lr=p.lr, betas=p.betas, eps=p.eps, weight_decay=p.weight_decay,
                          group_overrides=[OptimGroupOverride(params=["embeddings.weight"],
                                                              opts={"weight_decay": 0.0})]),
        scheduler=CosWithWarmup(warmup=p.warmup_steps, alpha_f=p.final_lr_fraction,
                                warmup_min_lr=p.warmup_start_fraction * p.lr),
        max_grad_norm=p.max_grad_norm,
        dp_config=_data_parallel(run),
        compile_model=run.compile,
    )
    if run.steps:
        duration = Duration.steps(run.steps)
    elif run.tokens:
        duration = Duration.tokens(run.tokens)
    else:
        duration = Duration.epochs(1)
    trainer = TrainerConfig(
        save_folder=str(run.checkpoints), save_overwrite=True, max_duration=duration,
        metrics_collect_interval=1 if not gpu else 10, cancel_check_interval=CANCEL_CHECK_INTERVAL,
        device="cuda" if gpu else "cpu",
    ).with_callback("checkpointer", _checkpointer(run, gpu))
    trainer = trainer.with_callback("console_logger", ConsoleLoggerCallback(log_interval=10 ** 9))
    trainer = trainer.with_callback("jsonl_metrics", JsonlMetricsCallback(path=str(run.metrics_file)))
    trainer = trainer.with_callback("progress", ProgressCallback(enabled=run.progress))
    if run.wandb_project:
        from olmo_core.train.callbacks import WandBCallback

        trainer = trainer.with_callback("wandb", WandBCallback(name=run.name, project=run.wandb_project))
    trainer = trainer.with_callback("stop_when_asked", StopWhenAsked(path=str(stop_request(run))))
    model = model_config(p, run.padded_vocab_size, run.attention)
    return OlmoCoreConfigs(model=model, dataset=dataset, data_loader=data_loader,
                           train_module=train_module, trainer=trainer)


def _checkpointer(run: RunRecord, gpu: bool):
    """Checkpoints every --checkpoint-interval steps; with --keep-every N, those are temporary (the newest is kept for
    resuming) and every Nth step's is kept for good; without it, OLMo-core keeps the newest 3. Asynchronous on GPUs,
    where a 1B checkpoint takes minutes."""
    from olmo_core.train.callbacks import CheckpointerCallback

    if run.keep_every is None:
        return CheckpointerCallback(save_interval=run.checkpoint_interval, save_async=gpu)
    ephemeral = run.checkpoint_interval if run.checkpoint_interval < run.keep_every else None
    return CheckpointerCallback(save_interval=run.keep_every, ephemeral_save_interval=ephemeral,
                                max_checkpoints=None, save_async=gpu)


def _data_parallel(run: RunRecord):
    """OLMo-core's data-parallel config of the run's layout: FSDP or HSDP (bf16 parameters, fp32 reductions; HSDP
    shards within a node and replicates across nodes), DDP, or none."""
    from olmo_core.config import DType
    from olmo_core.distributed.parallel import DataParallelType
    from olmo_core.train.train_module import TransformerDataParallelConfig

    if run.dp is None:
        return None
    if run.dp == "ddp":
        return TransformerDataParallelConfig(name=DataParallelType.ddp)
    sharding = {"num_replicas": run.nnodes, "shard_degree": run.nproc} if run.dp == "hsdp" else {}
    return TransformerDataParallelConfig(name=DataParallelType(run.dp), param_dtype=DType.bfloat16,
                                         reduce_dtype=DType.float32, **sharding)


def describe(run: RunRecord) -> dict:
    """The run's resolved configuration, for --dry-run."""
    cfgs = olmo_core_configs(run)
    return {"run": run.model_dump(mode="json"), "parameters": cfgs.model.num_params,
            "planned_steps": run.planned_steps() if run.paths and all(Path(p).exists() for p in run.paths) else None,
            "model": cfgs.model.as_config_dict(), "train_module": cfgs.train_module.as_config_dict()}
