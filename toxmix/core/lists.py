"""Comma-separated lists given on the command line."""

from collections.abc import Callable
from typing import TypeVar

from toxmix.core.errors import ToxmixError

T = TypeVar("T")


def parse_list(text: str, kind: Callable[[str], T], option: str) -> list[T]:
    """`"1, 2,3"` -> [1, 2, 3]; a bad item is a one-line error naming the option."""
    try:
        items = [kind(s.strip()) for s in text.split(",") if s.strip()]
    except ValueError:
        what = {int: "integers", float: "numbers"}.get(kind, "values")
        raise ToxmixError(f"{option} takes comma-separated {what}, got {text!r}") from None
    if not items:
        raise ToxmixError(f"{option} is empty; give comma-separated values, e.g. {option} 1,2")
    return items
