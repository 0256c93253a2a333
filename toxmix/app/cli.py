"""The `toxmix` command: the root app, with each stage's verbs registered from `toxmix.app.commands`."""

import errno
import sys

import typer
from typer._click import exceptions as click  # typer vendors click; its exceptions live here

from toxmix.core.console import err, out
from toxmix.core.errors import ToxmixError
from toxmix.core.files import disk_full

app = typer.Typer(
    name="toxmix",
    help=(
        "Curate, tag and mix pretraining data; train, probe and evaluate models on the mixtures.\n\n"
        "The path: `ingest` documents into a corpus store; `tag` them with scorers (`classifiers train-fasttext` "
        "makes one); ask questions with `sql` and `stats`; write a mixture manifest and `manifest materialize` it; "
        "`train` on it and `export` the model; `probe` its attention heads and steer it with `iti`; `eval` its "
        "toxicity and capability and `report` the study's table. "
        "`toy` runs the study's toy experiment.\n\n"
        "`demo` runs all of it in miniature.\n\n"
        "Examples: toxmix demo --profile quick --out runs/demo; "
        "toxmix ingest c4 ../shared/data/c4/c4-validation-2k.parquet --corpus corpus\n\n"
        "Shared data is read from $TOXMIX_SHARED (default ../shared). Every command has --help with an example."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """A group even when only one stage's verbs are registered (typer runs a lone command as the root)."""


# The verbs each module of toxmix.app.commands registers, in the order `toxmix --help` lists them: a command
# imports only its own module (tests/test_packaging.py checks this table against what each module registers).
STAGES = {"corpus": ("ingest", "tag", "sql", "stats"), "classifiers": ("classifiers",),
          "manifest": ("manifest",), "train": ("train", "export"), "probe": ("probe", "toy", "iti"),
          "eval": ("eval", "report"), "demo": ("demo",), "serve": ("serve",)}


def _register_stages(argv: list[str]) -> None:
    """Every stage adds its verbs the same way, `register(app)` in its module under `toxmix.app.commands`; only
    the stage of the verb given is imported (every stage for help or an unknown verb)."""
    import importlib

    verb = next((a for a in argv if not a.startswith("-")), None)
    wanted = [stage for stage, verbs in STAGES.items() if verb in verbs] or list(STAGES)
    for stage in wanted:
        if stage not in _REGISTERED:
            importlib.import_module(f"toxmix.app.commands.{stage}").register(app)
            _REGISTERED.add(stage)


_REGISTERED: set[str] = set()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line and exit 2."""
    argv = sys.argv[1:] if argv is None else argv
    _register_stages(argv)
    try:
        app(args=argv, prog_name="toxmix", standalone_mode=False)
    except ToxmixError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        return e.exit_code
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        err.print(f"[bold red]error:[/] {disk_full(e)}", highlight=False, soft_wrap=True)
        return 2
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        err.print("aborted")
        return 130
    except click.NoArgsIsHelpError as e:
        out.print(e.ctx.get_help(), highlight=False)
        return 0
    except click.UsageError as e:
        cmd = e.ctx.command_path if e.ctx else "toxmix"
        err.print(f"[bold red]error:[/] {e.format_message()} (see '{cmd} --help')", highlight=False, soft_wrap=True)
        return 2
    except click.ClickException as e:
        err.print(f"[bold red]error:[/] {e.format_message()}", highlight=False, soft_wrap=True)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
