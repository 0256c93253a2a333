"""Building datatrove executors: local processes, Slurm jobs or a Ray cluster."""

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from datatrove.executor.base import PipelineExecutor

from mixer.corpus.quiet import quiet_console
from toxmix.core.errors import ToxmixError
from toxmix.core.processes import forks_die_with_us

EXECUTORS = ("local", "slurm", "ray")


@dataclass
class ExecutorConfig:
    """How to run a pipeline: where, with how many workers, and Slurm options when on Slurm."""

    kind: str = "local"
    workers: int = 1
    slurm_partition: str | None = None
    slurm_time: str = "24:00:00"
    slurm_cpus_per_task: int = 1
    slurm_mem_per_cpu_gb: int = 4
    slurm_options: dict = field(default_factory=dict)
    check_tools: bool = True

    def run(self, pipeline: list, tasks: int, logging_dir: Path, job_name: str) -> None:
        """Build the executor and run it; local processes it starts die with this one."""
        executor = self.build(pipeline, tasks, logging_dir, job_name)
        with forks_die_with_us(), quiet_console():
            executor.run()

    def build(self, pipeline: list, tasks: int, logging_dir: Path, job_name: str) -> PipelineExecutor:
        """The executor that runs `pipeline` as `tasks` resumable tasks logged under `logging_dir`."""
        if self.workers < 1:
            raise ToxmixError(f"--workers must be at least 1, got {self.workers}")
        if self.kind == "local":
            from datatrove.executor import LocalPipelineExecutor

            return LocalPipelineExecutor(
                pipeline=pipeline, tasks=tasks, workers=min(self.workers, tasks), logging_dir=str(logging_dir)
            )
        if self.kind == "slurm":
            from datatrove.executor import SlurmPipelineExecutor

            if not self.slurm_partition:
                raise ToxmixError("--executor slurm needs --slurm-partition")
            if self.check_tools and shutil.which("sbatch") is None:
                raise ToxmixError("--executor slurm needs sbatch on PATH: run on a Slurm login node")
            return SlurmPipelineExecutor(
                pipeline=pipeline, tasks=tasks, workers=self.workers, logging_dir=str(logging_dir),
                job_name=job_name, partition=self.slurm_partition, time=self.slurm_time,
                cpus_per_task=self.slurm_cpus_per_task, mem_per_cpu_gb=self.slurm_mem_per_cpu_gb,
                sbatch_args=self.slurm_options or None, venv_path=f"{sys.prefix}/bin/activate",
            )
        if self.kind == "ray":
            try:
                import ray  # noqa: F401
            except ImportError:
                raise ToxmixError("--executor ray needs Ray: pip install 'toxmix[ray]'") from None
            from datatrove.executor import RayPipelineExecutor

            return RayPipelineExecutor(
                pipeline=pipeline, tasks=tasks, workers=self.workers, logging_dir=str(logging_dir)
            )
        raise ToxmixError(f"unknown executor {self.kind!r}; use one of: {', '.join(EXECUTORS)}")
