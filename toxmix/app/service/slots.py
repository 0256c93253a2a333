"""Query slots shared by every worker process of one service: N lock files, a slot held while its flock is."""

import fcntl
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path


class Slots:
    """At most `n` holders at once across processes (a per-process semaphore would allow n per worker)."""

    def __init__(self, folder: Path, n: int):
        folder.mkdir(exist_ok=True)
        self.paths = [folder / f"slot-{i}" for i in range(n)]
        # this process's waiters queue here first, in order: only n of them ever poll the lock files, and a
        # request that has waited longest is the next served (polling alone lets newcomers overtake it)
        self._turns = threading.BoundedSemaphore(n)

    def _take(self) -> int | None:
        for path in self.paths:
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                os.close(fd)
        return None

    @contextmanager
    def held(self, wait_s: float):
        """Hold a slot for the block; wait up to `wait_s` for one, else raise TimeoutError."""
        deadline = time.monotonic() + wait_s
        if not self._turns.acquire(timeout=wait_s):
            raise TimeoutError(f"no free slot in {wait_s:g} s")
        try:
            while (fd := self._take()) is None:  # another worker process holds them
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"no free slot in {wait_s:g} s")
                time.sleep(0.02)
            try:
                yield
            finally:
                os.close(fd)  # closing the last descriptor of the open file lets the flock go
        finally:
            self._turns.release()
