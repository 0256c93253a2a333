"""Command-line options shared by the commands that run on an executor (ingest, tag, materialize)."""

from typing import Annotated

import typer

from toxmix.mixer.corpus.executors import EXECUTORS, ExecutorConfig

ExecutorOpt = Annotated[str, typer.Option(help=f"Where to run: {'|'.join(EXECUTORS)}. On Slurm the command submits the tasks and a job that completes the output after them, and returns; Ray joins RAY_ADDRESS's cluster or starts a local one.")]
SlurmPartitionOpt = Annotated[str | None, typer.Option(help="Slurm partition (with --executor slurm).")]
SlurmTimeOpt = Annotated[str, typer.Option(help="Slurm time limit per job.")]
CpusPerTaskOpt = Annotated[int, typer.Option(help="CPUs per Slurm or Ray task (the tokenizer and DuckDB use them all).")]


def executor_config(executor: str, workers: int, slurm_partition: str | None, slurm_time: str,
                    cpus_per_task: int) -> ExecutorConfig:
    """The executor the options describe (`--workers`: local processes, or most tasks at once on a cluster)."""
    return ExecutorConfig(kind=executor, workers=workers, slurm_partition=slurm_partition, slurm_time=slurm_time,
                          cpus_per_task=cpus_per_task)
