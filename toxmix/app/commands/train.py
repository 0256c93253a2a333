"""`toxmix train` and `toxmix export`."""

import json
from pathlib import Path
from typing import Annotated

import typer

from toxmix.core.console import out as console
from toxmix.core.console import print_table
from toxmix.core.errors import ToxmixError
from toxmix.core.lists import parse_list


def train(
    manifest: Annotated[str, typer.Argument(help="Manifest YAML, or 'sweep' followed by a folder of manifests.")],
    folder: Annotated[Path | None, typer.Argument(help="With 'sweep': the folder of manifests to train.")] = None,
    preset: Annotated[str, typer.Option(help="tiny | small (CPU) | olmo1-1b (the study's Olmo-1B) | olmo2-1b.")] = "tiny",
    tokens: Annotated[int | None, typer.Option(help="Train on this many tokens (default: one epoch of the mixture).")] = None,
    steps: Annotated[int | None, typer.Option(help="Train for this many optimizer steps.")] = None,
    batch_sequences: Annotated[int | None, typer.Option(help="Global batch in sequences, instead of the preset's (e.g. 16 for a quick check of olmo1-1b on one GPU).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for initialization and data order.")] = 0,
    seeds: Annotated[str, typer.Option(help="With 'sweep': comma-separated seeds.")] = "0",
    nproc: Annotated[int | None, typer.Option(help="Processes per node (GPUs); default: all visible GPUs, or 1 on a CPU.")] = None,
    nnodes: Annotated[int, typer.Option(help="Nodes; > 1 writes RUN/slurm.sbatch and RUN/node.sh (what each node runs) instead of training here.")] = 1,
    device: Annotated[str, typer.Option(help="Where the job trains: auto (GPUs when visible, and always for --nnodes > 1, even planned on a login node without them), cuda or cpu.")] = "auto",
    dp: Annotated[str | None, typer.Option(help="Data parallel layout: fsdp, hsdp (FSDP inside a node, replicas across nodes) or ddp. Default: hsdp across GPU nodes, fsdp on one, ddp for several CPU processes.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (default runs/<manifest>-<preset>-s<seed>); with 'sweep', the folder of runs.")] = None,
    checkpoint_interval: Annotated[int, typer.Option(help="Save a resumable checkpoint every N steps.")] = 100,
    keep_every: Annotated[int | None, typer.Option(help="Keep every N steps' checkpoint for good (for training dynamics); the others are temporary. Default: OLMo-core keeps the newest 3.")] = None,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model (for GPUs: compiling takes a minute or two when the run starts).")] = False,
    flash_attn: Annotated[bool, typer.Option("--flash-attn", help="Attention with the flash-attn package's kernels (NVIDIA GPUs; pip install flash-attn on the training nodes).")] = False,
    slurm_partition: Annotated[str | None, typer.Option(help="With --nnodes: the partition of the Slurm job (default: the cluster's).")] = None,
    slurm_time: Annotated[str, typer.Option(help="With --nnodes: the Slurm job's time limit; the run checkpoints and requeues itself 2 minutes before it.")] = "24:00:00",
    cpus_per_task: Annotated[int | None, typer.Option(help="With --nnodes: CPUs per node for the job (default 8 per process).")] = None,
    submit: Annotated[bool, typer.Option("--submit", help="With --nnodes: sbatch the written script (from a Slurm login node).")] = False,
    follow: Annotated[bool, typer.Option("--follow", help="With --submit: stay until the Slurm job ends, printing its progress; exit with its outcome (Ctrl-C or SIGTERM cancels the job).")] = False,
    wandb_project: Annotated[str | None, typer.Option(help="Also log to this Weights & Biases project.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved configuration and parameter count; train nothing.")] = False,
    wait: Annotated[bool, typer.Option(help="If another trainer is using the run folder, wait for it instead of stopping.")] = False,
) -> None:
    """Train a model from a manifest with OLMo-core; resolves and materializes the manifest if needed.

    On a CPU one process trains with a thread per core; on GPUs torchrun runs FSDP. A killed run resumes from its
    newest checkpoint when started again with the same arguments, with the same data order.

    Examples: toxmix train manifests/demo/demo-10.yaml --preset tiny;
    toxmix train manifests/paper/paper-10.yaml --preset olmo1-1b --dry-run;
    toxmix train manifests/paper/paper-10.yaml --preset olmo1-1b --nnodes 2 --nproc 8 --slurm-time 48:00:00 --submit;
    toxmix train sweep manifests/demo/ --preset tiny --seeds 1,2
    """
    from toxmix.train.jobs import SweepConfig, TrainConfig
    from toxmix.train.jobs import sweep as run_sweep
    from toxmix.train.jobs import train as run_train

    shared = dict(preset=preset, steps=steps, tokens=tokens, nproc=nproc, checkpoint_interval=checkpoint_interval,
                  wandb_project=wandb_project, dry_run=dry_run, wait=wait, device=device, dp=dp, keep_every=keep_every,
                  compile=compile, flash_attn=flash_attn, batch_sequences=batch_sequences)
    if manifest == "sweep":
        if folder is None:
            raise ToxmixError("toxmix train sweep needs a folder of manifests, e.g. manifests/demo/")
        if slurm_partition or cpus_per_task or slurm_time != "24:00:00" or submit or follow:
            raise ToxmixError("--slurm-partition, --slurm-time, --cpus-per-task, --submit and --follow are for one "
                              "multi-node run (--nnodes); a sweep trains its runs here")
        cfg = SweepConfig(folder=folder, seeds=tuple(parse_list(seeds, int, "--seeds")), out=out or Path("runs"),
                          **shared)
        outcomes = run_sweep(cfg, on_start=_starting)
        if dry_run:
            for o in outcomes:
                _show_plan(o.run)
            console.print(f"dry run: {len(outcomes)} runs planned, none trained")
            return
        from toxmix.train.registry import list_runs

        print_table(f"runs in {cfg.out}", *list_runs(cfg.out), console)
        return
    if folder is not None:
        raise ToxmixError(f"unexpected argument {str(folder)!r}; to train a folder use 'toxmix train sweep FOLDER'")
    cfg = TrainConfig(manifest=manifest, seed=seed, nnodes=nnodes, out=out, slurm_partition=slurm_partition,
                      slurm_time=slurm_time, cpus_per_task=cpus_per_task, submit=submit, follow=follow, **shared)
    outcome = run_train(cfg, _starting, _submitted, _step)
    run = outcome.run
    if dry_run:
        _show_plan(run, verbose=True)
        return
    if outcome.slurm_job is not None:
        if outcome.code is None:
            return
        if outcome.code != 0:
            raise ToxmixError(f"Slurm job {outcome.slurm_job} did not complete; see {run.run_dir}/slurm-"
                              f"{outcome.slurm_job}.out, and submit again to resume from its checkpoint")
        console.print(f"done: Slurm job {outcome.slurm_job} completed {run.planned_steps()} steps; metrics in "
                      f"{run.metrics_file}")
        return
    if outcome.script is not None:
        from toxmix.train.launch import torchrun_command

        console.print(f"wrote {outcome.script} and {outcome.script.with_name('node.sh')}; submit with: "
                      f"sbatch {outcome.script}")
        console.print("or run on each node: " + " ".join(torchrun_command(run, node_rank="<NODE_RANK>",
                                                                           master="<MASTER_ADDR>")))
        return
    if outcome.code != 0:
        raise ToxmixError(f"training exited with code {outcome.code}; run the same command again to resume")
    from toxmix.train.record import read_metrics

    rows = read_metrics(run.metrics_file)
    planned = run.planned_steps()
    if rows[-1].step < planned:  # asked to stop (RUN/stop-requested, or SIGTERM): checkpointed where it stopped
        console.print(f"stopped at step {rows[-1].step} of {planned} with a checkpoint; run the same command again "
                      "to resume")
        return
    console.print(f"done: loss {rows[0].loss:.3f} -> {rows[-1].loss:.3f} over {rows[-1].step} steps; "
                  f"metrics in {run.metrics_file}")


def _starting(run) -> None:
    console.print(f"training {run.name}: {run.planned_steps():,} steps of {run.preset.global_batch_tokens:,} "
                  f"tokens on {run.device} -> {run.run_dir}")


def _submitted(run, job: str) -> None:
    console.print(f"submitted Slurm job {job}: {run.name} on {run.nnodes} nodes x {run.nproc} -> {run.run_dir} "
                  f"(log {run.run_dir}/slurm-{job}.out; squeue -j {job})")


def _step(step: int) -> None:
    console.print(f"step {step}")


def _show_plan(run, verbose: bool = False) -> None:
    from toxmix.train.jobs import plan_summary
    from toxmix.train.olmo import describe

    info = describe(run)
    if verbose:
        console.print_json(json.dumps(info, default=str))
        for line in plan_summary(run, info["parameters"]):
            console.print(line)
    steps = info["planned_steps"] if info["planned_steps"] is not None else "unknown until the manifest is materialized"
    console.print(f"{run.name}: preset {run.preset.name}, {info['parameters']:,} parameters; planned steps: {steps}"
                  f" -> {run.run_dir}")


def export(
    run: Annotated[Path, typer.Argument(help="Run folder (holds run.json and checkpoints/).")],
    hf: Annotated[Path, typer.Option("--hf", help="Output folder for the transformers checkpoint.")],
    step: Annotated[int | None, typer.Option(help="Checkpoint step; the newest by default (step 0, the untrained weights, only when named).")] = None,
) -> None:
    """Write a run's checkpoint as a transformers model (OlmoForCausalLM / Olmo2ForCausalLM) with its tokenizer.

    Example: toxmix export runs/demo-10-tiny-s0 --hf models/demo-10-tiny
    """
    from toxmix.train.export import export_hf, planned_steps
    from toxmix.train.record import RunRecord

    record = export_hf(run, hf, step)
    planned = planned_steps(RunRecord.load(run))
    of = f" of {planned:,} planned" if planned else ""
    console.print(f"exported step {record.step:,}{of} of run {record.run_name}")
    if planned and record.step < planned:
        console.print(f"note: the run has not finished ({record.step:,} of {planned:,} steps): this is an "
                      "intermediate checkpoint; run the same 'toxmix train' command again to finish it")
    console.print(f"wrote {hf}: load it with AutoModelForCausalLM.from_pretrained({str(hf)!r})")


def register(app: typer.Typer) -> None:
    """Add train and export to the root app."""
    app.command()(train)
    app.command()(export)
