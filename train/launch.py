"""Starting a run: one CPU process, torchrun on GPUs, or a torchrun command and Slurm script for many nodes."""

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from toxmix.core.locks import one_writer
from toxmix.core.processes import child_dies_with_us
from toxmix.core.settings import default_threads
from toxmix.train.record import RunRecord


def torchrun_command(run: RunRecord, node_rank: str = "0", master: str = "localhost") -> list[str]:
    """The torchrun command that trains `run`."""
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={run.nproc}"]
    if run.nnodes > 1:
        cmd += [f"--nnodes={run.nnodes}", f"--node-rank={node_rank}", f"--master-addr={master}", "--master-port=29500"]
    return cmd + ["-m", "toxmix.train.entry", run.run_dir]


def slurm_script(run: RunRecord) -> str:
    """An sbatch script that runs torchrun on every node of the allocation."""
    cmd = shlex.join(torchrun_command(run, node_rank="$SLURM_NODEID", master="$MASTER_ADDR"))
    cmd = cmd.replace("'$SLURM_NODEID'", "$SLURM_NODEID").replace("'--master-addr=$MASTER_ADDR'",
                                                                   "--master-addr=$MASTER_ADDR")
    return f"""#!/bin/bash
#SBATCH --job-name={run.name}
#SBATCH --nodes={run.nnodes}
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node={run.nproc}
#SBATCH --output={run.run_dir}/slurm-%j.out
set -euo pipefail
export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export OMP_NUM_THREADS=8
cd {shlex.quote(str(Path.cwd()))}
srun bash -c '{cmd}'
"""


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
