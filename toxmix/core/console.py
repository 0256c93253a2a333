"""Where commands print: results to stdout (`out`), progress and errors to stderr (`err`), tables, and progress
that is a bar on a terminal and plain lines in a log file or pipe."""

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.table import Table

# piped output keeps long lines whole and tables 140 columns wide, instead of rich's 80
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True)

# Given a stage name and its total, returns the callback that advances it by n.
ProgressFactory = Callable[[str, int], Callable[[int], None]]
LINE_EVERY_S = 30.0  # in a log, a line at least this often while a stage moves


def print_table(title: str | None, columns: list[str], rows: list[tuple], console: Console = out) -> None:
    """Print rows as a table; integers get thousands separators, None prints empty."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else "" if v is None else str(v) for v in row))
    console.print(table)


@contextmanager
def progress(console: Console = out, transient: bool = False) -> Iterator[ProgressFactory]:
    """Progress of named stages: bars on a terminal; elsewhere `name: done/total (p %)` lines at every tenth and
    at least every LINE_EVERY_S seconds, so a log shows long work moving."""
    if console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
        with Progress(*columns, console=console, transient=transient) as bar:
            def bars(name: str, total: int) -> Callable[[int], None]:
                task = bar.add_task(name, total=total)
                return lambda n=1: bar.advance(task, n)

            yield bars
        return

    def lines(name: str, total: int) -> Callable[[int], None]:
        state = {"done": 0, "tenth": -1, "at": time.monotonic(), "start": time.monotonic()}

        def advance(n: int = 1) -> None:
            state["done"] += n
            done, now = state["done"], time.monotonic()
            tenth = 10 * done // max(total, 1)
            if tenth > state["tenth"] or now - state["at"] >= LINE_EVERY_S:
                state["tenth"], state["at"] = tenth, now
                console.print(f"{name}: {done:,}/{total:,} ({100 * done / max(total, 1):.0f} %, "
                              f"{now - state['start']:.0f} s)", highlight=False)
        return advance

    yield lines
