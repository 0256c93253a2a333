"""`toxmix toy`: the study's toy experiment on data frequency and feature entanglement."""

from pathlib import Path
from typing import Annotated

import typer

from mixer.errors import ToxmixError


def toy(
    shares: Annotated[str, typer.Option(help="Shares of the under-sampled chain, comma-separated.")] = "0.01,0.05,0.1,0.2,0.33",
    seeds: Annotated[int, typer.Option(help="Seeds per share (all trained together as one stacked model).")] = 10,
    steps: Annotated[int, typer.Option(help="Adam steps per model.")] = 4000,
    batch: Annotated[int, typer.Option(help="Sequences per step per model.")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 3e-3,
    workers: Annotated[int, typer.Option(help="Shares trained at once, one process each (default: the cores).")] = 0,
    out: Annotated[Path, typer.Option(help="Output folder for results, figure and summary.")] = Path("toy-results"),
) -> None:
    """Train tiny transformers on N cyclic Markov chains with one chain under-sampled, and measure how entangled
    each feature's linear direction is (max |cos| to any other), with the Welch bound and 95% CIs over seeds.

    Writes results.parquet/.csv, summary.csv, entanglement.png and SUMMARY.md (settings and verdict).
    """
    from mixer.cli import out as console
    from mixer.settings import default_threads
    from probe.toy.experiment import ToyConfig, run_toy
    from probe.toy.report import write_report

    try:
        share_list = tuple(float(s) for s in shares.split(",") if s.strip())
    except ValueError:
        raise ToxmixError(f"--shares must be comma-separated numbers, got {shares!r}") from None
    if not share_list or any(not (0 < s < 1) for s in share_list):
        raise ToxmixError("--shares must be numbers strictly between 0 and 1")
    if seeds < 2 or steps < 1 or batch < 1:
        raise ToxmixError("--seeds must be at least 2 (for intervals); --steps and --batch positive")
    cfg = ToyConfig(shares=share_list, seeds=seeds, steps=steps, batch=batch, lr=lr)
    from rich.progress import Progress

    with Progress(console=console) as bar:
        task = bar.add_task(f"toy: {len(share_list)} shares x {seeds} seeds", total=len(share_list))
        rows, timing = run_toy(cfg, workers=workers or default_threads(), on_share=lambda _: bar.advance(task))
    paths = write_report(rows, timing, cfg, out)
    console.print(paths["summary"].read_text().split("## Entanglement")[0])
    for name, path in paths.items():
        console.print(f"wrote {name}: {path}")


def register(app: typer.Typer) -> None:
    """Add the toy command to the root app."""
    app.command()(toy)
