"""Where pipelines run: local processes, Slurm jobs or a Ray cluster (datatrove, imported when a pipeline runs:
`toxmix --help` and the commands that run none never load it)."""

import errno
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from toxmix.core.errors import ToxmixError
from toxmix.core.processes import forks_die_with_us

if TYPE_CHECKING:
    from datatrove.executor.base import PipelineExecutor

EXECUTORS = ("local", "slurm", "ray")

Result = TypeVar("Result")


@dataclass(frozen=True)
class Submitted:
    """Work handed to a cluster that finishes there: `tasks` jobs, then one job that completes the output."""

    kind: str
    tasks: int
    logging_dir: str

    def describe(self, what: str) -> str:
        """One line for the console: what was submitted, and where its logs go."""
        return (f"submitted {self.tasks} {what} tasks to {self.kind}, then one job that completes the output "
                f"once they all succeed; logs in {self.logging_dir}")


@dataclass
class ExecutorConfig:
    """How to run a pipeline: where, with how many workers, and Slurm options when on Slurm."""

    kind: str = "local"
    workers: int = 1
    slurm_partition: str | None = None
    slurm_time: str = "24:00:00"
    cpus_per_task: int = 1
    mem_per_cpu_gb: int = 4
    slurm_options: dict = field(default_factory=dict)
    check_tools: bool = True

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ToxmixError(f"unknown executor {self.kind!r}; use one of: {', '.join(EXECUTORS)}")
        if self.workers < 1:
            raise ToxmixError(f"--workers must be at least 1, got {self.workers}")
        if self.cpus_per_task < 1:
            raise ToxmixError(f"--cpus-per-task must be at least 1, got {self.cpus_per_task}")
        if self.kind == "slurm" and not self.slurm_partition:
            raise ToxmixError("--executor slurm needs --slurm-partition")

    def run(self, pipeline: list, tasks: int, logging_dir: Path, job_name: str,
            then: Callable[[], Result] | None = None,
            first: Callable[[], None] | None = None) -> Submitted | Result | None:
        """Run `first()` once, then `tasks` tasks of the pipeline, then `then()` once after every task succeeded.

        Locally and on Ray this waits, checks every task finished, calls `first` and `then` here and returns what
        `then()` returned (None without it). On Slurm it submits one-task jobs for `first` and `then` around the
        array job, each depending on the one before, and returns at once what it submitted. Local processes it
        starts die with this one.
        """
        try:
            return self._run(pipeline, tasks, logging_dir, job_name, then, first)
        except OSError as e:  # a full disk: name the disk the pipeline writes to when the library did not
            if e.errno == errno.ENOSPC and not e.filename:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(logging_dir)) from e
            raise

    def _run(self, pipeline: list, tasks: int, logging_dir: Path, job_name: str,
             then: Callable[[], Result] | None, first: Callable[[], None] | None) -> Submitted | Result | None:
        executor = self.build(pipeline, tasks, logging_dir, job_name)
        if self.kind == "slurm":
            if first is not None:
                executor.depends = self._single(first, Path(logging_dir) / "first", f"{job_name}-first")
            if then is not None:
                follow = self._single(then, Path(logging_dir) / "then", f"{job_name}-then")
                follow.depends = executor
                executor = follow
            executor.run()
            return Submitted(self.kind, tasks, str(logging_dir))
        if self.kind == "ray":
            _init_ray()
        if first is not None:
            first()
        from toxmix.mixer.corpus.quiet import quiet_console

        with forks_die_with_us(), quiet_console():
            executor.run()
        missing = executor.get_incomplete_ranks(range(tasks))
        if missing:
            raise ToxmixError(f"{len(missing)} of {tasks} tasks did not finish (first: task {missing[0]}); their "
                              f"logs are in {logging_dir}/logs; run the same command again to redo only those")
        return then() if then is not None else None

    def _single(self, call: Callable[[], None], logging_dir: Path, job_name: str) -> "PipelineExecutor":
        """A one-task job that calls `call`; it runs on every submission (its completion marker is dropped)."""
        shutil.rmtree(logging_dir / "completions", ignore_errors=True)
        from toxmix.mixer.corpus.local_executor import CallOnce

        return self.build([CallOnce(call)], 1, logging_dir, job_name)

    def build(self, pipeline: list, tasks: int, logging_dir: Path, job_name: str) -> "PipelineExecutor":
        """The executor that runs `pipeline` as `tasks` resumable tasks logged under `logging_dir`."""
        if self.kind == "local":
            from toxmix.mixer.corpus.local_executor import InProcessExecutor

            return InProcessExecutor(
                pipeline=pipeline, tasks=tasks, workers=min(self.workers, tasks), logging_dir=str(logging_dir)
            )
        if self.kind == "slurm":
            from datatrove.executor import SlurmPipelineExecutor

            if self.check_tools and shutil.which("sbatch") is None:
                raise ToxmixError("--executor slurm needs sbatch on PATH: run on a Slurm login node")
            return SlurmPipelineExecutor(
                pipeline=pipeline, tasks=tasks, workers=self.workers, logging_dir=str(logging_dir),
                job_name=job_name, partition=self.slurm_partition, time=self.slurm_time,
                cpus_per_task=self.cpus_per_task, mem_per_cpu_gb=self.mem_per_cpu_gb,
                # a job whose dependency failed (a task cancelled or lost) is removed, not left pending forever
                sbatch_args={"kill-on-invalid-dep": "yes", **self.slurm_options},
                venv_path=f"{sys.prefix}/bin/activate",
            )
        if self.kind == "ray":
            try:
                import ray  # noqa: F401
            except ImportError:
                raise ToxmixError("--executor ray needs Ray: pip install 'toxmix[ray]'") from None
            from datatrove.executor import RayPipelineExecutor

            return RayPipelineExecutor(
                pipeline=pipeline, tasks=tasks, workers=self.workers, logging_dir=str(logging_dir),
                cpus_per_task=self.cpus_per_task, mem_per_cpu_gb=self.mem_per_cpu_gb,
            )
        raise AssertionError(self.kind)  # __post_init__ refused it


def _init_ray() -> None:
    """Join the Ray cluster named by RAY_ADDRESS, or start a local one, unless this process already has."""
    import ray

    if not ray.is_initialized():
        ray.init(log_to_driver=False, include_dashboard=False, configure_logging=False)
