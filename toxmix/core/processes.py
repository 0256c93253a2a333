"""Child processes that never outlive the toxmix command that started them."""

import ctypes
import ctypes.util
import multiprocessing
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

_PR_SET_PDEATHSIG = 1
LEFT_ON_EXIT: set[Path] = set()  # files and folders `hard_exit` removes: what a finally block would have
_forks_follow = False  # set while a pipeline runs: every Python fork of this process dies with it
_watching = False  # this worker already watches the command that asked for it


@lru_cache(maxsize=1)
def _prctl() -> Callable | None:
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux; elsewhere nothing).

    A `kill -9` of toxmix cannot run any cleanup, so its workers are told to follow it instead of holding memory
    or writing on their own.
    """
    prctl = _prctl()
    if prctl is None:
        return
    parent = os.getppid()
    prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), sig)


def child_dies_with_us(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A `preexec_fn` for subprocess: the child dies when this process does (libc is loaded here, before fork)."""
    _prctl()
    return lambda: die_with_parent(sig)


def _parent_process():
    """The process that asked for this worker (stdlib's or the `multiprocess` fork datatrove uses), or None."""
    parent = multiprocessing.parent_process()
    mp = sys.modules.get("multiprocess")
    return parent if parent is not None else (mp.parent_process() if mp is not None else None)


def exit_with_parent_if_worker() -> None:
    """In a pool worker, die with the command that asked for it; in the command's own process, do nothing.

    Under forkserver a worker's parent is the fork server, which outlives a killed command, so the worker also
    watches the requesting process's sentinel (closed by the kernel when it dies).
    """
    global _watching
    parent = _parent_process()
    if parent is None or _watching:
        return
    die_with_parent()
    sentinel = getattr(parent, "sentinel", None)
    if sentinel is not None:
        _watching = True
        threading.Thread(target=_exit_when_closed, args=(sentinel,), daemon=True, name="toxmix-parent-watch").start()


def _exit_when_closed(sentinel: int) -> None:
    from multiprocessing.connection import wait

    wait([sentinel])
    os.kill(os.getpid(), signal.SIGKILL)


def _after_fork_in_child() -> None:
    if _forks_follow:
        die_with_parent()


os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def forks_die_with_us() -> Iterator[None]:
    """For the block, every process forked from this one dies with it: datatrove's `multiprocess.Manager` is a
    plain fork of the command (holding whatever the command had loaded) that would otherwise outlive a kill -9."""
    global _forks_follow
    _prctl()  # loaded before any fork
    before, _forks_follow = _forks_follow, True
    try:
        yield
    finally:
        _forks_follow = before


def hard_exit(code: int) -> None:
    """End this process at once (no finally blocks run), removing what LEFT_ON_EXIT names first: for a watchdog
    whose main thread is stuck inside native code."""
    for path in list(LEFT_ON_EXIT):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    os._exit(code)
