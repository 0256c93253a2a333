"""Where commands print: results to stdout (`out`), progress and errors to stderr (`err`), and tables."""

import sys

from rich.console import Console
from rich.table import Table

# piped output keeps long lines whole and tables 140 columns wide, instead of rich's 80
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True)


def print_table(title: str | None, columns: list[str], rows: list[tuple], console: Console = out) -> None:
    """Print rows as a table; integers get thousands separators, None prints empty."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else "" if v is None else str(v) for v in row))
    console.print(table)
