"""User SQL in a child process that cannot outgrow its limits.

DuckDB's `memory_limit` covers its buffer manager, not every allocation (`list_sum(range(600000000))` built a
17 GB list under a 200 MB limit), and an interrupt is seen only between vectors. So a user's query runs in a
child process (`python -m toxmix.mixer.corpus.query_child`): it is killed when it outlives its time limit or its
resident memory passes the limit (polled), and an address-space limit makes a single runaway allocation fail
inside the child. The caller's process is never at risk, and the user gets one line either way. A fresh
interpreter, not a fork: forking a process that holds other threads (a notebook with torch loaded) can deadlock.
"""

import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from toxmix.core.errors import ToxmixError
from toxmix.core.processes import child_dies_with_us, hard_exit

if TYPE_CHECKING:  # pyarrow loads in the functions that use it: `toxmix sql` prints a table without it
    import pyarrow as pa

POLL_S = 0.05  # how often the parent looks at the child's resident memory
HEADROOM = 1 << 30  # resident memory allowed beyond DuckDB's own limit: the interpreter, libraries, the result
GRACE_S = 2.0  # past the time limit, how long DuckDB's own interrupt may take before the process is ended


@dataclass(frozen=True)
class Limits:
    """What one user query may use: wall time (None: no limit), DuckDB's memory and spill limits."""

    timeout: float | None
    memory_limit: str
    spill_limit: str

    @property
    def memory_bytes(self) -> int:
        return parse_size(self.memory_limit)


def parse_size(text: str) -> int:
    """`4GB`, `200MB`, `1.5GiB` -> bytes (DuckDB's units: KB/MB/GB/TB are 1000s, KiB/MiB/GiB/TiB 1024s)."""
    units = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20,
             "GIB": 2**30, "TIB": 2**40}
    raw = text.strip().upper().replace(" ", "")
    for unit in sorted(units, key=len, reverse=True):
        if raw.endswith(unit):
            try:
                return int(float(raw[: -len(unit)]) * units[unit])
            except ValueError:
                break
    raise ToxmixError(f"bad memory or spill limit {text!r}; write sizes like 4GB or 512MB")


def cap_address_space(limits: Limits) -> tuple[int, int]:
    """Limit this process's address space to what it maps now plus twice the memory limit and 2 GiB, so a single
    runaway allocation fails; return the limits it replaced."""
    with open("/proc/self/statm") as f:
        mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    before = resource.getrlimit(resource.RLIMIT_AS)
    cap = mapped + 2 * limits.memory_bytes + 2 * HEADROOM
    if before[1] != resource.RLIM_INFINITY:
        cap = min(cap, before[1])
    resource.setrlimit(resource.RLIMIT_AS, (cap, before[1]))
    return before


def _resident(pid: int) -> int:
    """A process's resident memory in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError):
        return 0


def _stopped(why: str, limits: Limits) -> ToxmixError:
    if why == "time":
        return ToxmixError(f"query stopped after {limits.timeout:g} s; raise --timeout, or narrow the query")
    return ToxmixError(f"query stopped: it outgrew its memory limit ({limits.memory_limit}); raise "
                       "--memory-limit, or narrow the query")


def run_bounded(corpus: str, sql: str, limits: Limits, max_rows: int | None = None) -> "pa.Table":
    """The result of a confined query (the caller confines it), run in a child that is killed past its limits."""
    parse_size(limits.memory_limit)  # a bad size is the user's one-line error, here, not the child's
    request = json.dumps({"corpus": str(corpus), "sql": sql, "limits": asdict(limits), "max_rows": max_rows})
    proc = subprocess.Popen([sys.executable, "-m", "toxmix.mixer.corpus.query_child"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, preexec_fn=child_dies_with_us())  # noqa: PLW1509 - prctl only
    answer: list[bytes] = []
    reader = threading.Thread(target=lambda: answer.append(proc.communicate(request.encode())[0]), daemon=True)
    reader.start()
    deadline = None if not limits.timeout else time.monotonic() + limits.timeout
    resident_cap = limits.memory_bytes + HEADROOM
    why = None
    try:
        while reader.is_alive():
            reader.join(POLL_S)
            if deadline is not None and time.monotonic() > deadline:
                why = "time"
                break
            if _resident(proc.pid) > resident_cap:
                why = "memory"
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join()
    got = answer[0] if answer and why is None else b""
    if got[:1] == b"A":
        import pyarrow as pa

        return pa.ipc.open_stream(got[1:]).read_all()
    if got[:1] == b"E":
        raise ToxmixError(got[1:].decode())
    raise _stopped(why or "memory", limits)  # killed by us, by the kernel, or crashed on a failed allocation


@contextmanager
def guarded(limits: Limits) -> Iterator[None]:
    """For a command whose process exists to run one query (or resolve one manifest): the same bounds applied to
    this process. An address-space limit fails a runaway allocation; a watchdog thread ends the process with the
    one-line error, exit 2, when its resident memory passes the limit or the time limit passes (plus a grace for
    DuckDB's own interrupt to land first). Never for a caller's process (a notebook): that is `run_bounded`."""
    before = cap_address_space(limits)
    done = threading.Event()
    deadline = None if not limits.timeout else time.monotonic() + limits.timeout + GRACE_S
    resident_cap = _resident(os.getpid()) + limits.memory_bytes + HEADROOM  # what the process already held, plus

    def watch() -> None:
        while not done.wait(POLL_S):
            over_time = deadline is not None and time.monotonic() > deadline
            if over_time or _resident(os.getpid()) > resident_cap:
                sys.stderr.write(f"error: {_stopped('time' if over_time else 'memory', limits)}\n")
                sys.stderr.flush()
                hard_exit(2)  # the query holds the main thread inside DuckDB: no exception would reach it

    watcher = threading.Thread(target=watch, daemon=True, name="toxmix-query-watchdog")
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        resource.setrlimit(resource.RLIMIT_AS, before)
