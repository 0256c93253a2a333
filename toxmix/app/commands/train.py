"""`toxmix train` and `toxmix export`."""

import json
from pathlib import Path
from typing import Annotated

import typer

from toxmix.core.console import out as console
from toxmix.core.console import print_table
from toxmix.core.errors import ToxmixError
from toxmix.core.lists import parse_list


def _sweep_manifests(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ToxmixError(f"{folder} is not a folder of manifests")
    found = sorted(p for p in folder.glob("*.yaml") if p.name != "template.yaml")
    if not found:
        raise ToxmixError(f"no manifests (*.yaml other than template.yaml) in {folder}")
    return found


def train(
    manifest: Annotated[str, typer.Argument(help="Manifest YAML, or 'sweep' followed by a folder of manifests.")],
    folder: Annotated[Path | None, typer.Argument(help="With 'sweep': the folder of manifests to train.")] = None,
    preset: Annotated[str, typer.Option(help="tiny | small (CPU) | olmo1-1b (the study's Olmo-1B) | olmo2-1b.")] = "tiny",
    tokens: Annotated[int | None, typer.Option(help="Train on this many tokens (default: one epoch of the mixture).")] = None,
    steps: Annotated[int | None, typer.Option(help="Train for this many optimizer steps.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for initialization and data order.")] = 0,
    seeds: Annotated[str, typer.Option(help="With 'sweep': comma-separated seeds.")] = "0",
    nproc: Annotated[int | None, typer.Option(help="Processes per node (GPUs); default: all visible GPUs, or 1 on a CPU.")] = None,
    nnodes: Annotated[int, typer.Option(help="Nodes; > 1 writes a Slurm script and prints the torchrun command.")] = 1,
    out: Annotated[Path | None, typer.Option(help="Run folder (default runs/<manifest>-<preset>-s<seed>); with 'sweep', the folder of runs.")] = None,
    checkpoint_interval: Annotated[int, typer.Option(help="Save a resumable checkpoint every N steps.")] = 100,
    wandb_project: Annotated[str | None, typer.Option(help="Also log to this Weights & Biases project.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved configuration and parameter count; train nothing.")] = False,
    wait: Annotated[bool, typer.Option(help="If another trainer is using the run folder, wait for it instead of stopping.")] = False,
) -> None:
    """Train a model from a manifest with OLMo-core; resolves and materializes the manifest if needed.

    On a CPU one process trains with a thread per core; on GPUs torchrun runs FSDP. A killed run resumes from its
    newest checkpoint when started again with the same arguments, with the same data order.

    Examples: toxmix train manifests/demo/demo-10.yaml --preset tiny;
    toxmix train manifests/paper/paper-10.yaml --preset olmo1-1b --dry-run;
    toxmix train sweep manifests/demo/ --preset tiny --seeds 1,2
    """
    from toxmix.mixer.manifest.schema import load_manifest
    from toxmix.train.launch import launch, run_writer, slurm_script, torchrun_command
    from toxmix.train.olmo import describe
    from toxmix.train.plan import plan_run
    from toxmix.train.record import read_metrics
    from toxmix.train.registry import list_runs, record_run

    if manifest == "sweep":
        if folder is None:
            raise ToxmixError("toxmix train sweep needs a folder of manifests, e.g. manifests/demo/")
        root = out or Path("runs")
        seed_list = parse_list(seeds, int, "--seeds")
        for path in _sweep_manifests(folder):
            mf = load_manifest(path)
            for s in seed_list:
                name = f"{mf.name}-{preset}-s{s}"
                with run_writer(root / name, wait):
                    run = plan_run(mf, preset, seed=s, steps=steps, tokens=tokens, nproc=nproc, out=str(root / name),
                                   checkpoint_interval=checkpoint_interval, wandb_project=wandb_project)
                    run.save()
                    console.print(f"[bold]{name}[/]: {run.planned_steps():,} steps")
                    status = "done" if launch(run) == 0 else "failed"
                record_run(root, run, status)
        print_table(f"runs in {root}", *list_runs(root), console)
        return
    if folder is not None:
        raise ToxmixError(f"unexpected argument {str(folder)!r}; to train a folder use 'toxmix train sweep FOLDER'")
    run = plan_run(load_manifest(manifest), preset, seed=seed, steps=steps, tokens=tokens, nproc=nproc, nnodes=nnodes,
                   out=str(out) if out else None, checkpoint_interval=checkpoint_interval,
                   wandb_project=wandb_project, prepare=not dry_run)
    if dry_run:
        info = describe(run)
        console.print_json(json.dumps(info, default=str))
        console.print(f"preset {preset}: {info['parameters']:,} parameters; "
                      f"planned steps: {info['planned_steps'] if info['planned_steps'] is not None else 'unknown until the manifest is materialized'}")
        return
    with run_writer(run.run_dir, wait):
        run.save()
        if nnodes > 1:
            script = Path(run.run_dir) / "slurm.sbatch"
            script.write_text(slurm_script(run))
            console.print(f"wrote {script}; submit it with: sbatch {script}")
            console.print("or run on each node: " + " ".join(torchrun_command(run, node_rank="<NODE_RANK>",
                                                                               master="<MASTER_ADDR>")))
            return
        console.print(f"training {run.name}: {run.planned_steps():,} steps of {run.preset.global_batch_tokens:,} "
                      f"tokens on {run.device} -> {run.run_dir}")
        code = launch(run)
        record_run(Path(run.run_dir).parent, run, "done" if code == 0 else "failed")
    if code != 0:
        raise ToxmixError(f"training exited with code {code}; run the same command again to resume")
    rows = read_metrics(run.metrics_file)
    console.print(f"done: loss {rows[0].loss:.3f} -> {rows[-1].loss:.3f} over {rows[-1].step} steps; "
                  f"metrics in {run.metrics_file}")


def export(
    run: Annotated[Path, typer.Argument(help="Run folder (holds run.json and checkpoints/).")],
    hf: Annotated[Path, typer.Option("--hf", help="Output folder for the transformers checkpoint.")],
    step: Annotated[int | None, typer.Option(help="Checkpoint step; the newest by default.")] = None,
) -> None:
    """Write a run's checkpoint as a transformers model (OlmoForCausalLM / Olmo2ForCausalLM) with its tokenizer.

    Example: toxmix export runs/demo-10-tiny-s0 --hf models/demo-10-tiny
    """
    from toxmix.train.export import export_hf

    path = export_hf(run, hf, step)
    console.print(f"wrote {path}: load it with AutoModelForCausalLM.from_pretrained({str(path)!r})")


def register(app: typer.Typer) -> None:
    """Add train and export to the root app."""
    app.command()(train)
    app.command()(export)
