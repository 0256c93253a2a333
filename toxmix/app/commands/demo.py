"""`toxmix demo`: the study in miniature."""

from pathlib import Path
from typing import Annotated

import typer

from toxmix.core.console import out


def demo(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Option("--out", help="Folder for everything the demo makes; rerun to resume.")] = Path("runs/demo"),
    profile: Annotated[str, typer.Option(help="'quick' (about 5 minutes on 2 cores) or 'full' (under an hour).")] = "quick",
    data_dir: Annotated[Path | None, typer.Option(help="Local data in the layout of ../shared/data (default: $TOXMIX_SHARED/data).")] = None,
    hub: Annotated[bool, typer.Option(help="Read small public samples from the Hugging Face hub instead (needs network).")] = False,
) -> None:
    """The whole study in miniature, one command: ingest C4 and toxic forum data, train a scorer and tag, corpus
    stats in SQL, sweep and materialize mixtures, train and export models, probe and compare them, fit ITI,
    evaluate toxicity and capability with the α grid and the prompting baseline, run the toy experiment, and
    write one HTML report. Every stage is a plain toxmix command (see OUT/logs); finished stages are skipped.

    Example: toxmix demo --profile quick --out runs/demo
    """
    from toxmix.app.demo import run_demo

    report = run_demo(folder, ctx.find_root().command, data_dir, hub, profile)
    out.print(f"report: {report} (open it in a browser) and {report.with_suffix('.md')}")


def register(app: typer.Typer) -> None:
    """Add demo to the root app."""
    app.command()(demo)
