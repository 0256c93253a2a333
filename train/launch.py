"""Starting a run: one CPU process, torchrun on GPUs, or per-node and Slurm scripts for many nodes."""

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toxmix.core.errors import ToxmixError
from toxmix.core.locks import one_writer
from toxmix.core.processes import child_dies_with_us
from toxmix.core.settings import default_threads
from toxmix.train.record import RunRecord


def torchrun_command(run: RunRecord, node_rank: str = "0", master: str = "localhost",
                     port: str = "29500") -> list[str]:
    """The torchrun command that trains `run` (on one node of several, with that node's rank)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={run.nproc}"]
    if run.nnodes > 1:
        cmd += [f"--nnodes={run.nnodes}", f"--node-rank={node_rank}", f"--master-addr={master}",
                f"--master-port={port}"]
    return cmd + ["-m", "toxmix.train.entry", run.run_dir]


NODE_SCRIPT = "node.sh"
SLURM_SCRIPT = "slurm.sbatch"


def node_script(run: RunRecord) -> str:
    """What every node of a multi-node run executes (srun starts one per node): check that this node sees the
    Python environment, the run folder and the token files, then torchrun with this node's rank. Its own file, so
    `$SLURM_NODEID` is read on each node, never expanded once by the batch script."""
    needed = " ".join(shlex.quote(p) for p in [sys.executable, str(Path(run.run_dir) / "run.json"), *run.paths])
    launch = shlex.join(torchrun_command(run, "@RANK@", "@ADDR@", "@PORT@"))
    launch = (launch.replace("--node-rank=@RANK@", '--node-rank="$SLURM_NODEID"')
              .replace("--master-addr=@ADDR@", '--master-addr="$MASTER_ADDR"')
              .replace("--master-port=@PORT@", '--master-port="$MASTER_PORT"'))
    return f"""#!/bin/bash
# One node of {run.name}: written by 'toxmix train --nnodes {run.nnodes}', run by srun from {SLURM_SCRIPT}.
set -euo pipefail
shared="the Python environment, the run folder and the token files must be on a filesystem every node sees"
for f in {needed}; do
  [ -r "$f" ] || {{ echo "node $SLURM_NODEID ($(hostname)) cannot read $f: $shared" >&2; exit 2; }}
done
export OLMO_SHARED_FS=1  # checked above: every node sees the run folder, so OLMo-core may checkpoint into it
export OMP_NUM_THREADS="${{OMP_NUM_THREADS:-8}}"
echo "node $SLURM_NODEID of {run.nnodes} ($(hostname)): --node-rank=$SLURM_NODEID, rendezvous $MASTER_ADDR:$MASTER_PORT"
exec {launch}
"""


@dataclass(frozen=True)
class SlurmJob:
    """The sbatch settings of a multi-node run: partition (the cluster's default when None), time limit, and CPUs
    per node's task (default 8 per process: the data loader and OpenMP threads of each rank)."""

    partition: str | None = None
    time: str = "24:00:00"
    cpus_per_task: int | None = None


# Slurm's warning before the time limit: enough for the ranks to agree on a stop (every 5 steps) and save
WARNING_SECONDS = 120


def slurm_script(run: RunRecord, job: SlurmJob = SlurmJob()) -> str:
    """The sbatch script of a multi-node run: whole nodes, requeued when preempted or near its time limit, the
    rendezvous port derived from the job id (two jobs on one node never collide). Its one command is the batch
    step (`toxmix.train.slurm_job`), which holds the run folder's lock and starts `node.sh` on every node."""
    gpus = f"#SBATCH --gpus-per-node={run.nproc}\n" if run.device == "cuda" else ""
    partition = f"#SBATCH --partition={job.partition}\n" if job.partition else ""
    cpus = job.cpus_per_task or 8 * run.nproc
    batch = shlex.join([sys.executable, "-m", "toxmix.train.slurm_job", run.run_dir])
    return f"""#!/bin/bash
#SBATCH --job-name={run.name}
{partition}#SBATCH --nodes={run.nnodes}
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task={cpus}
{gpus}#SBATCH --exclusive
#SBATCH --time={job.time}
#SBATCH --requeue
#SBATCH --signal=B:USR1@{WARNING_SECONDS}
#SBATCH --open-mode=append
#SBATCH --output={run.run_dir}/slurm-%j.out
# Written by 'toxmix train --nnodes {run.nnodes}'. {WARNING_SECONDS} s before the time limit Slurm sends USR1 to the
# batch step: the trainers checkpoint and stop, and the job requeues itself; a requeued or preempted job resumes
# from the newest checkpoint.
set -euo pipefail
export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))
cd {shlex.quote(str(Path.cwd()))}
exec {batch}
"""


def write_cluster_scripts(run: RunRecord, job: SlurmJob = SlurmJob()) -> Path:
    """Write RUN/node.sh and RUN/slurm.sbatch; return the sbatch script."""
    node = Path(run.run_dir) / NODE_SCRIPT
    node.write_text(node_script(run))
    node.chmod(0o755)
    script = Path(run.run_dir) / SLURM_SCRIPT
    script.write_text(slurm_script(run, job))
    return script


def launch(run: RunRecord) -> int:
    """Train in a child process (so threads, devices and crashes stay isolated); return its exit code."""
    env = dict(os.environ)
    if run.device == "cpu":
        # one process uses every core; several (gloo + DDP) exercise the distributed path and share the cores
        env["OMP_NUM_THREADS"] = str(max(1, default_threads() // run.nproc))
    distributed = run.nproc > 1 or run.device == "cuda"
    cmd = torchrun_command(run) if distributed else [sys.executable, "-m", "toxmix.train.entry", run.run_dir]
    env.setdefault("PYTHONUNBUFFERED", "1")
    # torchrun gets SIGTERM so that it stops its workers; a lone trainer is simply killed
    preexec = child_dies_with_us(signal.SIGTERM if distributed else signal.SIGKILL)
    return subprocess.call(cmd, env=env, preexec_fn=preexec)  # noqa: PLW1509 - only prctl runs before exec


def run_writer(run_dir: str | Path, wait: bool = False):
    """The one-writer lock of a run folder: a second trainer on it is refused (or waits with `wait`)."""
    return one_writer(Path(run_dir) / "trainer.lock", f"run folder {run_dir}", wait)


SLURM_JOB_FILE = "slurm-job"  # the id of the run's newest Slurm submission
SLURM_ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE")


def submit(script: Path) -> str:
    """`sbatch` the run's script; return the Slurm job id (also written to RUN/slurm-job)."""
    try:
        done = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True)
    except FileNotFoundError:
        raise ToxmixError("sbatch is not on PATH: submit from a Slurm login node, or drop --submit and "
                          f"run 'sbatch {script}' there") from None
    if done.returncode != 0:
        raise ToxmixError(f"sbatch refused {script}: {done.stderr.strip().splitlines()[-1] if done.stderr else ''}")
    job = done.stdout.strip().split(";")[0]
    (script.parent / SLURM_JOB_FILE).write_text(job + "\n")
    return job


def slurm_state(job: str) -> str | None:
    """The Slurm job's state (PENDING, RUNNING, COMPLETED...), or None once the controller no longer knows it;
    a controller that cannot be asked (down, restarting, timing out) is a ToxmixError, not an ended job."""
    try:
        done = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise ToxmixError(f"scontrol did not answer about Slurm job {job} in 120 s") from None
    if done.returncode == 0:
        return dict(f.split("=", 1) for f in done.stdout.split() if "=" in f).get("JobState")
    if "invalid job id" in done.stderr.lower():
        return None
    raise ToxmixError(f"scontrol cannot tell Slurm job {job}'s state: {done.stderr.strip() or done.returncode}")


def follow(run: RunRecord, job: str, on_step: Callable[[int], None] | None = None, poll_s: float = 2.0,
           patience_s: float = 600.0) -> int:
    """Stay with a submitted job until it ends: 0 if it completed; SIGTERM (a cancel) cancels the job. A controller
    that cannot be asked is asked again for up to patience_s (it may be restarting) before following gives up."""
    from toxmix.train.record import read_metrics, run_finished

    def cancel(signum, frame) -> None:
        subprocess.run(["scancel", job], check=False)
        raise ToxmixError(f"cancelled Slurm job {job}; run the same command again to resume from its checkpoint")

    previous = signal.signal(signal.SIGTERM, cancel)
    seen, unreachable_since = 0, None
    try:
        while True:
            try:
                state = slurm_state(job)
            except ToxmixError as e:
                now = time.monotonic()
                if unreachable_since is None:
                    unreachable_since = now
                    print(f"warning: {e}; asking again for up to {patience_s:g} s", file=sys.stderr, flush=True)
                elif now - unreachable_since > patience_s:
                    raise ToxmixError(f"{e} (for {patience_s:g} s); the job may still be running: "
                                      f"see `squeue -j {job}`") from None
                time.sleep(poll_s)
                continue
            unreachable_since = None
            try:
                rows = read_metrics(run.metrics_file)
            except ValueError:  # a line being written
                rows = []
            step = rows[-1].step if rows else seen
            if step != seen and on_step:
                on_step(step)
            seen = step
            if state is None:  # aged out of the controller: judge by the run itself
                return 0 if run_finished(run) else 1
            if state in SLURM_ENDED:
                return 0 if state == "COMPLETED" else 1
            time.sleep(poll_s)
    finally:
        signal.signal(signal.SIGTERM, previous)
