"""The batch step of a multi-node Slurm run (`python -m toxmix.train.slurm_job RUN_DIR`, what RUN/slurm.sbatch
runs): hold the run folder's one-writer lock, start `node.sh` on every node, and on Slurm's time-limit warning
(USR1) ask the trainers to checkpoint and stop, then requeue the job so that it resumes."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from toxmix.core.errors import ToxmixError
from toxmix.train.launch import NODE_SCRIPT, run_writer
from toxmix.train.olmo import stop_request
from toxmix.train.record import RunRecord, checkpoint_steps, run_finished


def run_job(run_dir: str) -> int:
    """Train the run on the job's nodes; return srun's exit code."""
    run = RunRecord.load(run_dir)
    job = os.environ.get("SLURM_JOB_ID", "?")
    stop = stop_request(run)
    warned = False

    def on_warning(signum, frame) -> None:
        nonlocal warned
        warned = True
        stop.touch()
        print(f"job {job}: Slurm's time-limit warning; the trainers checkpoint and stop, then the job is requeued",
              flush=True)

    with run_writer(run.run_dir):
        stop.unlink(missing_ok=True)
        signal.signal(signal.SIGUSR1, on_warning)
        print(f"job {job} (restart {os.environ.get('SLURM_RESTART_COUNT', '0')}): {run.name} on {run.nnodes} nodes "
              f"x {run.nproc} processes ({run.device}, {run.dp})", flush=True)
        code = subprocess.call(["srun", "--kill-on-bad-exit=1", "bash", str(Path(run.run_dir) / NODE_SCRIPT)])
        if warned and code == 0 and not run_finished(run):
            print(f"job {job}: checkpointed at step {checkpoint_steps(run.checkpoints)[-1][0]}; requeueing",
                  flush=True)
            subprocess.call(["scontrol", "requeue", job])
        return code


def main(argv: list[str]) -> None:
    """Run the batch step; a one-line error (another trainer holds the folder) exits 1."""
    try:
        sys.exit(run_job(argv[0]))
    except ToxmixError as e:
        held = str(e).split(";")[0]
        sys.exit(f"error: {held}; is this run submitted twice? (squeue --name {Path(argv[0]).name}); this job "
                 "trains nothing")


if __name__ == "__main__":
    main(sys.argv[1:])
