"""One writer per output: an advisory lock file that the kernel releases when its holder dies, even by kill -9."""

import fcntl
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from toxmix.core.errors import ToxmixError


@contextmanager
def one_writer(path: Path, what: str, wait: bool = False) -> Iterator[None]:
    """Hold the lock at `path` for the block; another holder means a one-line refusal, or waiting if `wait`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise ToxmixError(f"{what} is being written by another toxmix process (pid {holder}); wait for it to "
                              "finish, or pass --wait to queue behind it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def writers(locks: list[tuple[Path, str]], wait: bool = False) -> Iterator[None]:
    """Hold several locks, taken in path order so two processes never wait on each other."""
    with ExitStack() as stack:
        for path, what in sorted(locks):
            stack.enter_context(one_writer(path, what, wait))
        yield
