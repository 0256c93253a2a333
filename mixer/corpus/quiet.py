"""datatrove's per-task console logs kept to warnings unless asked (`--verbose`); every line still goes to the task
log files in the run's log folder. A task's error reaches the user once, as toxmix's own one-line error (its
traceback stays in the task log), not also as datatrove's multi-page log record."""

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import datatrove.executor.base as executor_base
from loguru import logger

VERBOSE_ENV = "TOXMIX_VERBOSE"  # read at each task's start, so pool workers follow the command's choice
_LEVEL = re.compile(r"^(?:\[NODE \d+\] )?\S+ \S+ \| (\w+)")
_QUIET_LEVELS = {"TRACE", "DEBUG", "INFO", "SUCCESS", "ERROR"}


class _WarningsOnly:
    """A console sink for loguru that passes warnings (and critical records) and drops the rest."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, message: str) -> None:
        level = _LEVEL.match(message)
        if level is None or level.group(1) not in _QUIET_LEVELS:
            self._stream.write(message)

    def flush(self) -> None:
        self._stream.flush()


def _quieted(original):
    """datatrove's function, binding its console handler to a warnings-only sink unless verbose."""
    def quieted(*args, **kwargs):
        if os.environ.get(VERBOSE_ENV) == "1":
            return original(*args, **kwargs)
        real, sys.stderr = sys.stderr, _WarningsOnly(sys.stderr)  # the handler binds the stream it is given now
        try:
            return original(*args, **kwargs)
        finally:
            sys.stderr = real

    quieted.toxmix_quiet = True
    return quieted


@contextmanager
def quiet_console() -> Iterator[None]:
    """For the block, this process's own loguru console output (datatrove's executor) is warnings and errors
    only, unless $TOXMIX_VERBOSE is 1."""
    if os.environ.get(VERBOSE_ENV) == "1":
        yield
        return
    logger.remove()
    logger.add(_WarningsOnly(sys.stderr), level="DEBUG")
    try:
        yield
    finally:
        logger.remove()
        logger.add(sys.stderr)


def install() -> None:
    """Wrap datatrove's task logger set-up and reset once per process (the executor module calls them by name)."""
    for name in ("add_task_logger", "close_task_logger"):
        if not getattr(getattr(executor_base, name), "toxmix_quiet", False):
            setattr(executor_base, name, _quieted(getattr(executor_base, name)))


install()
