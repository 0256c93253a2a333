"""A real Slurm on this machine for the tests: munged, slurmctld and one slurmd per node (`slurmd -N NAME`, each
on its own port), no cgroups (`proctrack/linuxproc`, `task/none`), all state in one temporary folder."""

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

NEEDED = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "sinfo", "squeue", "scontrol", "scancel")
HOSTS = Path("/etc/hosts")


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _resolves(name: str) -> bool:
    try:
        return socket.gethostbyname(name).startswith("127.")
    except OSError:
        return False


class SlurmCluster:
    """A one-machine Slurm with `nodes` nodes of `cpus` CPUs each in partition `cpu`; `env` points clients at it."""

    def __init__(self, root: Path, nodes: int = 2, cpus: int = 2, memory_mb: int = 8000):
        missing = [tool for tool in NEEDED if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists()]
        if missing:
            raise RuntimeError(f"the Slurm tests need {', '.join(missing)}: apt-get install slurm-wlm munge "
                               "(.ci/run installs them)")
        self.root = root
        self.names = [f"txn{i + 1}" for i in range(nodes)]
        self.conf = root / "slurm.conf"
        self.munge_socket = root / "munge" / "socket"
        self._added_hosts: str | None = None
        ctld, *node_ports = _free_ports(1 + nodes)
        user = getpass.getuser()
        lines = [
            "ClusterName=toxmix-test", "SlurmctldHost=localhost", f"SlurmctldPort={ctld}",
            f"SlurmUser={user}", f"SlurmdUser={user}", "AuthType=auth/munge",
            f"AuthInfo=socket={self.munge_socket},cred_expire=10",
            f"StateSaveLocation={root}/state", f"SlurmdSpoolDir={root}/spool-%n",
            f"SlurmctldPidFile={root}/slurmctld.pid", f"SlurmdPidFile={root}/slurmd-%n.pid",
            f"SlurmctldLogFile={root}/slurmctld.log", f"SlurmdLogFile={root}/slurmd-%n.log",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none",
            "SchedulerType=sched/backfill", "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
            # a requeued job waits cred_expire + 1 s before it may start again (Slurm's default: 121 s)
            # nodes may claim more than this machine has; a node whose slurmd restarts comes back by itself
            "SlurmdParameters=config_overrides", "ReturnToService=2", "JobRequeue=1", "KillWait=5",
            "MinJobAge=600", "SchedulerParameters=sched_interval=2",
        ]
        lines += [f"NodeName={name} NodeAddr=127.0.0.1 Port={port} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN"
                  for name, port in zip(self.names, node_ports, strict=True)]
        lines.append(f"PartitionName=cpu Nodes={','.join(self.names)} Default=YES MaxTime=INFINITE State=UP")
        self.lines = lines
        self.env = {"SLURM_CONF": str(self.conf)}

    def start(self) -> "SlurmCluster":
        (self.root / "state").mkdir(parents=True, exist_ok=True)
        munge = self.munge_socket.parent
        munge.mkdir(mode=0o700, exist_ok=True)
        (munge / "key").write_bytes(os.urandom(1024))
        (munge / "key").chmod(0o600)
        self.conf.write_text("\n".join(self.lines) + "\n")
        # torchrun's rendezvous looks the first node's name up: the node names must resolve, to this machine
        unresolved = [n for n in self.names if not _resolves(n)]
        if unresolved:
            self._added_hosts = f"127.0.0.1 {' '.join(unresolved)}  # toxmix test Slurm {os.getpid()}\n"
            with open(HOSTS, "a") as hosts:
                hosts.write(self._added_hosts)
        subprocess.run(["/usr/sbin/munged", "--force", "-S", str(self.munge_socket), f"--key-file={munge}/key",
                        f"--pid-file={munge}/pid", f"--log-file={munge}/log", f"--seed-file={munge}/seed"],
                       check=True)
        env = {**os.environ, **self.env}
        subprocess.run(["/usr/sbin/slurmctld", "-f", str(self.conf)], check=True, env=env)
        for name in self.names:
            subprocess.run(["/usr/sbin/slurmd", "-f", str(self.conf), "-N", name], check=True, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = self.run("sinfo", "-h", "-N", "-o", "%N %t", check=False).split()
            if states and states.count("idle") == len(self.names):
                return self
            time.sleep(0.5)
        raise RuntimeError(f"the test Slurm's nodes did not come up: {states}; see {self.root}/*.log")

    def run(self, *args: str, check: bool = True) -> str:
        """A Slurm client command against this cluster; its stdout."""
        done = subprocess.run(list(args), env={**os.environ, **self.env}, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def queued(self) -> list[str]:
        return self.run("squeue", "-h", "-o", "%i").split()

    def wait(self, timeout: float = 600) -> None:
        """Until no job is pending or running."""
        deadline = time.monotonic() + timeout
        while self.queued():
            if time.monotonic() > deadline:
                raise TimeoutError(f"Slurm jobs still queued after {timeout} s: {self.queued()}")
            time.sleep(0.5)

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as key=value pairs (JobState, Restarts, ExitCode...)."""
        text = self.run("scontrol", "show", "job", "-o", job_id)
        return dict(field.split("=", 1) for field in text.split() if "=" in field)

    def stop(self) -> None:
        self.run("scancel", "--user", getpass.getuser(), check=False)
        for pid_file in [self.root / "slurmctld.pid", *(self.root / f"slurmd-{n}.pid" for n in self.names),
                         self.munge_socket.parent / "pid"]:
            with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text()), 15)
        if self._added_hosts:
            HOSTS.write_text(HOSTS.read_text().replace(self._added_hosts, ""))
