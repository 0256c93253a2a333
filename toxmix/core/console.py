"""Where commands print: results to stdout (`out`), progress and errors to stderr (`err`), and tables."""

from rich.console import Console
from rich.table import Table

out = Console(soft_wrap=True)  # long paths and messages stay on one line when piped
err = Console(stderr=True)


def print_table(title: str | None, columns: list[str], rows: list[tuple], console: Console = out) -> None:
    """Print rows as a table; integers get thousands separators, None prints empty."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else "" if v is None else str(v) for v in row))
    console.print(table)
