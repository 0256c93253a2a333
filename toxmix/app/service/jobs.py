"""The service's long actions as jobs: rows in its SQLite state, each run once as a `toxmix` child process.

A job goes queued -> running -> done | failed | cancelled, and only forward: the runner claims a queued job with
one UPDATE, so no job starts twice. The child runs in its own session, so it outlives a service killed with -9;
a restarted service re-attaches to a child still running (same pid and start time) or marks the job failed with
its log. The corpus's one-writer locks still hold between the service's jobs and the CLI. Of a service's worker
processes (`--workers`), one runs the jobs; the others queue and show them.
"""

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

from toxmix.app.service.state import State

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, owner TEXT NOT NULL,
  args TEXT NOT NULL, state TEXT NOT NULL, pid INTEGER, pid_start TEXT, code INTEGER, created REAL NOT NULL,
  started REAL, ended REAL, log TEXT NOT NULL, run_dir TEXT);
"""
FINAL = ("done", "failed", "cancelled")


def _started(pid: int) -> str | None:
    """The kernel's start time of process `pid` (field 22 of /proc/PID/stat), or None if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


class Jobs:
    """Queue, run, watch and cancel the service's jobs."""

    def __init__(self, state: State, root: Path, poll_s: float = 0.5):
        self.state, self.root, self.poll_s = state, root, poll_s
        self.logs = root / "service-jobs"
        self.logs.mkdir(exist_ok=True)
        self._children: dict[int, subprocess.Popen] = {}
        with closing(self._connect()) as con:
            con.executescript(SCHEMA)
        self._leader: int | None = None  # the lock file this runner holds while it is the project's one runner
        self._thread = threading.Thread(target=self._run, name="toxmix-jobs", daemon=True)
        self._thread.start()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.state.path, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        return con

    def submit(self, kind: str, owner: str, args: list[str], run_dir: str | None) -> int:
        """Queue `toxmix ARGS` as a job; its id."""
        with closing(self._connect()) as con:
            cur = con.execute("INSERT INTO jobs (kind, owner, args, state, created, log, run_dir) "
                              "VALUES (?, ?, ?, 'queued', ?, '', ?)", (kind, owner, json.dumps(args), time.time(),
                                                                       run_dir))
            job_id = cur.lastrowid
            con.execute("UPDATE jobs SET log = ? WHERE id = ?", (str(self.logs / f"job-{job_id}.log"), job_id))
        self.state.audit(owner, f"start {kind}", f"job {job_id}: toxmix {' '.join(args)}")
        return job_id

    def get(self, job_id: int) -> dict | None:
        with closing(self._connect()) as con:
            row = con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return dict(row) if row else None

    def list(self) -> list[dict]:
        with closing(self._connect()) as con:
            return [dict(r) for r in con.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT 200").fetchall()]

    def cancel(self, job_id: int, by: str) -> dict | None:
        """Stop a queued or running job (SIGTERM to its process group: a trainer checkpoints and stops)."""
        job = self.get(job_id)
        if job is None or job["state"] in FINAL:
            return job
        with closing(self._connect()) as con:
            con.execute("UPDATE jobs SET state = 'cancelled', ended = ? WHERE id = ? AND state = 'queued'",
                        (time.time(), job_id))
        if job["state"] == "running" and job["pid"] and _started(job["pid"]) == job["pid_start"]:
            os.killpg(job["pid"], signal.SIGTERM)
            with closing(self._connect()) as con:
                con.execute("UPDATE jobs SET state = 'cancelled' WHERE id = ? AND state = 'running'", (job_id,))
        self.state.audit(by, "cancel", f"job {job_id}")
        return self.get(job_id)

    def _recover(self) -> None:
        """After a restart: re-attach to children still running; a job whose child is gone has failed."""
        with closing(self._connect()) as con:
            for job in con.execute("SELECT * FROM jobs WHERE state = 'running'").fetchall():
                if job["pid"] and _started(job["pid"]) == job["pid_start"]:
                    continue  # still running: _run watches it by pid
                con.execute("UPDATE jobs SET state = 'failed', ended = ? WHERE id = ?", (time.time(), job["id"]))
                with open(job["log"], "a") as log:
                    log.write("\n[toxmix serve] the service restarted and this job's process was gone\n")

    def _lead(self) -> bool:
        """Whether this runner starts and watches the jobs: one per project, across a service's worker processes
        and services, by an flock held for the process's life (the next to ask takes over when it dies)."""
        if self._leader is None:
            fd = os.open(self.root / ".toxmix-service-jobs.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._leader = fd
            self._recover()
        return True

    def _run(self) -> None:
        while True:  # a daemon thread: it ends with the service
            time.sleep(self.poll_s)
            try:
                if not self._lead():
                    continue
                self._watch()
                self._start_next()
            except sqlite3.Error:
                continue  # busy database: next round

    def _start_next(self) -> None:
        with closing(self._connect()) as con:
            job = con.execute("SELECT * FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1").fetchone()
            if job is None or con.execute("SELECT 1 FROM jobs WHERE state = 'running'").fetchone():
                return  # one job at a time: they share this machine's cores
            claimed = con.execute("UPDATE jobs SET state = 'running', started = ? WHERE id = ? AND state = 'queued'",
                                  (time.time(), job["id"])).rowcount
            if not claimed:
                return
            with open(job["log"], "a") as log:
                child = subprocess.Popen([sys.executable, "-m", "toxmix.app.cli", *json.loads(job["args"])],
                                         stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
                                         start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            self._children[job["id"]] = child
            con.execute("UPDATE jobs SET pid = ?, pid_start = ? WHERE id = ?",
                        (child.pid, _started(child.pid), job["id"]))

    def _watch(self) -> None:
        with closing(self._connect()) as con:
            for job in con.execute("SELECT * FROM jobs WHERE state IN ('running', 'cancelled') AND ended IS NULL "
                                   "AND pid IS NOT NULL").fetchall():
                child = self._children.get(job["id"])
                if child is not None:
                    code = child.poll()
                    if code is None:
                        continue
                    del self._children[job["id"]]
                elif _started(job["pid"]) == job["pid_start"]:
                    continue  # re-attached after a restart: not our child, so no exit code until it is gone
                else:
                    code = None
                finished = code == 0 or (code is None and _run_finished(job["run_dir"]))
                state = job["state"] if job["state"] == "cancelled" else "done" if finished else "failed"
                con.execute("UPDATE jobs SET state = ?, code = ?, ended = ? WHERE id = ? AND ended IS NULL",
                            (state, code, time.time(), job["id"]))


def _run_finished(run_dir: str | None) -> bool:
    """Whether a training run reached its planned last step (how a re-attached job's end is judged)."""
    from toxmix.train.record import RunRecord, run_finished

    return bool(run_dir) and (Path(run_dir) / "run.json").is_file() and run_finished(RunRecord.load(run_dir))


_RUNNERS: dict[Path, Jobs] = {}
_RUNNERS_LOCK = threading.Lock()


def runner(state: State, root: Path) -> Jobs:
    """The one job runner of a project in this process (two would race to judge the same job's end)."""
    with _RUNNERS_LOCK:
        if root not in _RUNNERS:
            _RUNNERS[root] = Jobs(state, root)
        return _RUNNERS[root]
