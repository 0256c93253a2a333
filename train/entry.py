"""The training process: `python -m train.entry RUN_DIR`, on its own or under torchrun."""

import logging
import os
import sys
import warnings


def build_trainer(run):
    """Build model, train module, data loader and trainer from a run's OLMo-core configs."""
    from olmo_core.utils import seed_all

    from toxmix.train.olmo import olmo_core_configs

    cfgs = olmo_core_configs(run)
    seed_all(run.seed)
    model = cfgs.model.build(init_device="meta" if run.device == "cuda" else "cpu")
    train_module = cfgs.train_module.build(model)
    if run.preset.init == "mitchell":  # a resumed run's checkpoint overwrites this draw
        from toxmix.train.init import mitchell_init

        mitchell_init(train_module.model, run.preset.d_model, run.seed)
    dataset = cfgs.dataset.build()
    data_loader = cfgs.data_loader.build(dataset, dp_process_group=train_module.dp_process_group)
    return cfgs.trainer.build(train_module, data_loader)


def train(run) -> None:
    """Train, resuming from the newest checkpoint in the run directory if there is one."""
    trainer = build_trainer(run)
    trainer.maybe_load_checkpoint(str(run.checkpoints))
    from olmo_core.distributed.utils import get_rank

    if trainer.global_step > 0 and get_rank() == 0:
        print(f"resumed from the step {trainer.global_step} checkpoint in {run.checkpoints}", flush=True)
    trainer.fit()


def main(run_dir: str) -> None:
    """Set up the process (threads, distributed backend) and train the run in run_dir."""
    import torch
    from olmo_core.train import prepare_training_environment, teardown_training_environment

    from toxmix.train.record import RunRecord

    run = RunRecord.load(run_dir)
    if run.device == "cuda" and not torch.cuda.is_available():
        sys.exit(f"error: run {run.name} was planned for GPUs, and this node ({os.uname().nodename}) has none "
                 "visible; run it where GPUs are (the Slurm job's nodes), or plan it again with --device cpu")
    if run.attention != "torch":
        from olmo_core.nn.attention import AttentionBackendName

        try:
            AttentionBackendName(run.attention).assert_supported()
        except RuntimeError:
            sys.exit(f"error: run {run.name} uses --flash-attn, and this node ({os.uname().nodename}) cannot import "
                     "flash-attn: pip install flash-attn --no-build-isolation on the training nodes, or plan the run "
                     "again without --flash-attn")
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1 or run.device == "cuda"
    backend = "cpu:gloo,cuda:nccl" if run.device == "cuda" else "gloo"
    if run.device == "cpu":
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    # OLMo-core announces that it would set OMP_NUM_THREADS to 8 but keeps ours (the cores, or a share of them):
    # on a 2-core machine that line reads as if 8 threads were used
    logging.getLogger("olmo_core.utils").addFilter(
        lambda record: "OMP_NUM_THREADS" not in record.getMessage())
    prepare_training_environment(seed=run.seed, backend=backend if distributed else None)
    # single-process CPU runs save checkpoints without a process group, on purpose
    warnings.filterwarnings("ignore", message="torch.distributed is disabled")
    if not os.environ.get("TOXMIX_VERBOSE"):
        # the progress bar and metrics.jsonl say what matters; OLMo-core's INFO lines are for debugging
        logging.getLogger("olmo_core").setLevel(logging.WARNING)
    try:
        train(run)
    finally:
        teardown_training_environment()


if __name__ == "__main__":
    main(sys.argv[1])
