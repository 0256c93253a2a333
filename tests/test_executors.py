"""Executors: local by default; Slurm and Ray built from datatrove with toxmix's settings."""

import shutil

import pytest
from datatrove.executor import LocalPipelineExecutor, SlurmPipelineExecutor

from toxmix.classifiers.hub import resolve_model_file
from toxmix.core.errors import ToxmixError
from toxmix.mixer.corpus.executors import ExecutorConfig


def test_local_caps_workers_at_tasks(tmp_path):
    ex = ExecutorConfig(workers=8).build([], tasks=3, logging_dir=tmp_path, job_name="t")
    assert isinstance(ex, LocalPipelineExecutor) and ex.workers == 3 and ex.tasks == 3


def test_slurm_executor_is_configured(tmp_path):
    cfg = ExecutorConfig(kind="slurm", workers=4, slurm_partition="cpu", slurm_time="02:00:00", check_tools=False)
    ex = cfg.build([], tasks=10, logging_dir=tmp_path, job_name="toxmix-tag")
    assert isinstance(ex, SlurmPipelineExecutor)
    assert (ex.tasks, ex.workers, ex.partition, ex.time, ex.job_name) == (10, 4, "cpu", "02:00:00", "toxmix-tag")


def test_slurm_and_ray_errors_say_what_to_do(tmp_path):
    with pytest.raises(ToxmixError, match="--slurm-partition"):
        ExecutorConfig(kind="slurm").build([], 1, tmp_path, "t")
    if shutil.which("sbatch") is None:
        with pytest.raises(ToxmixError, match="sbatch"):
            ExecutorConfig(kind="slurm", slurm_partition="p").build([], 1, tmp_path, "t")
    with pytest.raises(ToxmixError, match="unknown executor"):
        ExecutorConfig(kind="dask").build([], 1, tmp_path, "t")
    with pytest.raises(ToxmixError, match="at least 1"):
        ExecutorConfig(workers=0).build([], 1, tmp_path, "t")


def test_hub_style_model_folder_resolves_model_bin(tmp_path, fasttext_model):
    repo = tmp_path / "dolma-jigsaw-fasttext-bigrams-hatespeech"
    repo.mkdir()
    (repo / "model.bin").write_bytes(fasttext_model.read_bytes())
    assert resolve_model_file(str(repo)) == repo / "model.bin"
    with pytest.raises(ToxmixError, match="neither a file nor a hub id"):
        resolve_model_file("not a model")


def test_one_worker_runs_in_process_without_a_forked_manager(tmp_path, monkeypatch):
    import datatrove.executor.local as local

    def no_manager():
        raise AssertionError("a Manager process was started for one worker")

    monkeypatch.setattr(local.multiprocess, "Manager", no_manager)
    ran = []

    def step(data, rank, world_size):
        ran.append(rank)
        return data or ()

    cfg = ExecutorConfig()
    assert cfg.run([step], tasks=3, logging_dir=tmp_path, job_name="t") is None
    assert ran == [0, 1, 2] and (tmp_path / "stats.json").is_file()
    assert cfg.run([step], tasks=3, logging_dir=tmp_path, job_name="t") is None  # every task done: none rerun
    assert ran == [0, 1, 2]
