"""One writer per output: an advisory lock file that the kernel releases when its holder dies, even by kill -9."""

import fcntl
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from toxmix.core.errors import ToxmixError
from toxmix.core.processes import LEFT_ON_EXIT


@contextmanager
def one_writer(path: Path, what: str, wait: bool = False) -> Iterator[None]:
    """Hold the lock at `path` for the block; another holder means a one-line refusal, or waiting if `wait`.

    The lock file exists only while a holder holds it: the holder removes it before releasing, so a finished or
    refused command leaves nothing behind. A process that locked a file its last holder had just removed notices
    (the path no longer names that file) and locks the file now at the path instead.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ToxmixError(f"{what} is being written by another toxmix process (pid {holder}); wait for it to "
                              "finish, or pass --wait to queue behind it") from None
        if _same_file(fd, path):
            break
        os.close(fd)
    LEFT_ON_EXIT.add(path)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        LEFT_ON_EXIT.discard(path)
        if _same_file(fd, path):
            path.unlink()  # while still holding the lock: the next holder creates a fresh file
        os.close(fd)  # closing releases the lock


def _same_file(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open as `fd`."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (st.st_ino, st.st_dev) == (held.st_ino, held.st_dev)


@contextmanager
def writers(locks: list[tuple[Path, str]], wait: bool = False) -> Iterator[None]:
    """Hold several locks, taken in path order so two processes never wait on each other."""
    with ExitStack() as stack:
        for path, what in sorted(locks):
            stack.enter_context(one_writer(path, what, wait))
        yield
