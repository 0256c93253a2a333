"""The `toxmix` command line: one entry point, a subcommand per task."""

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from typer._click import exceptions as click  # typer vendors click; its exceptions live here

from mixer.errors import ToxmixError
from mixer.executors import ExecutorConfig
from mixer.settings import DEFAULT_TOKENIZER

app = typer.Typer(
    name="toxmix",
    help=(
        "Curate, tag and mix pretraining data; train, probe and evaluate models on the mixtures.\n\n"
        "The path: `ingest` documents into a corpus store; `tag` them with scorers (`classifiers train-fasttext` "
        "makes one); ask questions with `sql` and `stats`; write a mixture manifest and `manifest materialize` it; "
        "`train` on it and `export` the model. `toy` runs the study's toy experiment.\n\n"
        "Shared data is read from $TOXMIX_SHARED (default ../shared). Every command has --help with an example."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = Console(stderr=True)
out = Console()

CorpusOpt = Annotated[Path, typer.Option("--corpus", "-c", help="Corpus directory (created by ingest).")]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", help="Parallel worker processes (one task per shard).")]


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="Name of the source, e.g. c4 or stormfront.")],
    paths: Annotated[list[str], typer.Argument(help="Input files or folders (or one hub id / folder with --format hf).")],
    corpus: CorpusOpt,
    format: Annotated[str | None, typer.Option("--format", "-f", help="jsonl|parquet|csv|warc|hf; guessed from file names by default.")] = None,
    text_field: Annotated[str, typer.Option(help="Field holding the document text.")] = "text",
    id_field: Annotated[str, typer.Option(help="Field holding a document id; documents without one get a content hash. Pass '' for always hashing.")] = "id",
    keep_field: Annotated[list[str] | None, typer.Option("--keep-field", "-k", help="Extra field to keep (repeatable); kept fields also become the 'fields' attribute table.")] = None,
    tokenizer: Annotated[str, typer.Option(help="Tokenizer for n_tokens: hub id, tokenizer.json or a folder.")] = DEFAULT_TOKENIZER,
    split: Annotated[str, typer.Option(help="Split to read with --format hf.")] = "train",
    subset: Annotated[str | None, typer.Option(help="Dataset config with --format hf, e.g. 'en' for allenai/c4.")] = None,
    workers: WorkersOpt = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing source of this name.")] = False,
) -> None:
    """Read documents into the corpus store as SOURCE, counting tokens and keeping every rejected record.

    Example: toxmix ingest c4 ../shared/data/c4/c4-validation-2k.parquet --corpus corpus
    """
    from mixer.ingest import IngestConfig
    from mixer.ingest import ingest as run_ingest

    cfg = IngestConfig(source=source, paths=list(paths), corpus=str(corpus), format=format,
                       text_field=text_field, id_field=id_field or None, keep_fields=tuple(keep_field or ()),
                       tokenizer=tokenizer, hf_split=split, hf_subset=subset)
    summary = run_ingest(cfg, ExecutorConfig(workers=workers), overwrite=overwrite)
    table = Table(title=f"ingest {summary.source}", show_header=False)
    table.add_row("records in", f"{summary.records_in:,}")
    table.add_row("stored", f"{summary.stored:,}")
    for reason, n in summary.rejected.items():
        table.add_row(f"rejected: {reason}", f"{n:,}")
    table.add_row("tokens", f"{summary.tokens:,}")
    table.add_row("bytes", f"{summary.bytes:,}")
    out.print(table)
    for note in summary.notes:
        out.print(note)
    out.print(f"in = stored + rejected: {summary.records_in:,} = {summary.stored:,} + {summary.rejected_total:,}")


def _register_subapps() -> None:
    from classifiers.cli import app as classifiers_app
    from mixer.cli_corpus import register
    from mixer.cli_manifest import app as manifest_app

    app.add_typer(classifiers_app, name="classifiers")
    app.add_typer(manifest_app, name="manifest")
    register(app)
    from train.cli import register as register_train

    register_train(app)
    from probe.cli import register as register_probe

    register_probe(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line and exit 2."""
    _register_subapps()
    try:
        app(args=argv, prog_name="toxmix", standalone_mode=False)
    except ToxmixError as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        return e.exit_code
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        console.print("aborted")
        return 130
    except click.NoArgsIsHelpError as e:
        out.print(e.ctx.get_help(), highlight=False)
        return 0
    except click.UsageError as e:
        cmd = e.ctx.command_path if e.ctx else "toxmix"
        console.print(f"[bold red]error:[/] {e.format_message()} (see '{cmd} --help')", highlight=False,
                      soft_wrap=True)
        return 2
    except click.ClickException as e:
        console.print(f"[bold red]error:[/] {e.format_message()}", highlight=False, soft_wrap=True)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
