"""ingest, tag and materialize on a real Slurm (two nodes on this machine: tests/slurm_cluster.py) and on a local
Ray instance give the same bytes as local runs."""

import json
import time
from pathlib import Path

import pytest
from conftest import run_cli, tree_digest, write_manifest

from toxmix.mixer.corpus.executors import ExecutorConfig, Submitted
from toxmix.mixer.corpus.ingest import IngestConfig, ingest
from toxmix.mixer.corpus.tag import tag
from toxmix.mixer.manifest.lockfile import read_lock
from toxmix.mixer.manifest.materialize import materialize


def _write_inputs(folder: Path) -> Path:
    folder.mkdir()
    for f in range(3):
        with open(folder / f"part-{f}.jsonl", "w") as out:
            for d in range(120):
                out.write(json.dumps({"id": f"{f}-{d}", "text": f"file {f} says hello {d} " * (1 + d % 9)}) + "\n")
    with open(folder / "part-1.jsonl", "a") as out:
        out.write('{"id": "0-1", "text": "a duplicate id"}\n{"broken\n')
    return folder


def _store(corpus: Path) -> dict[str, str]:
    """Every published file, by path: documents, attributes, rejects and the sources' and scorers' records."""
    return {k: v for k, v in tree_digest(corpus, "**/*").items()
            if k.startswith(("documents", "attributes", "rejected", "meta"))}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return _write_inputs(tmp_path_factory.mktemp("cluster") / "parts")


def _manifest(folder: Path, corpus: Path) -> Path:
    return write_manifest(folder, corpus, [{"name": "all", "source": "s", "tokens": 8_000}],
                          name="mix", output={"shard_tokens": 3_000})


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, inputs, fasttext_model):
    """The reference: every stage locally, with two workers."""
    root = tmp_path_factory.mktemp("local")
    corpus = root / "corpus"
    assert run_cli("ingest", "s", inputs, "-c", corpus, "--workers", "2") == 0
    assert run_cli("tag", "-c", corpus, "-s", f"fasttext:{fasttext_model},name=tox", "--workers", "2") == 0
    assert run_cli("manifest", "materialize", _manifest(root, corpus), "--workers", "2") == 0
    return corpus, read_lock(root / "mix.lock.json")


def _tokens(lock) -> dict[str, str]:
    return {s.path: s.sha256 for s in lock.materialized.shards}


SLURM = ("--executor", "slurm", "--slurm-partition", "cpu", "--workers", "2")


def test_the_three_stages_on_slurm_give_the_local_bytes(tmp_path, inputs, fasttext_model, local_run, slurm, capsys):
    """On a real Slurm (two nodes on this machine): each stage submits its jobs and returns; they run there."""
    ref_corpus, ref_lock = local_run
    corpus = tmp_path / "corpus"
    assert run_cli("ingest", "s", inputs, "-c", corpus, *SLURM) == 0
    assert "submitted 3 ingest tasks to slurm" in capsys.readouterr().out
    slurm.wait()
    assert run_cli("tag", "-c", corpus, "-s", f"fasttext:{fasttext_model},name=tox", *SLURM) == 0
    slurm.wait()
    assert run_cli("manifest", "materialize", _manifest(tmp_path, corpus), *SLURM) == 0
    assert "submitted 3 materialize tasks to slurm" in capsys.readouterr().out
    slurm.wait()
    assert _store(corpus) == _store(ref_corpus)
    lock = read_lock(tmp_path / "mix.lock.json")
    assert len(lock.materialized.shards) == 3 and _tokens(lock) == _tokens(ref_lock)
    assert lock.materialized.digest == ref_lock.materialized.digest
    # each stage was an array job, then the one job that completes its output; materialize gathers first
    scripts = sorted((corpus / "logs").rglob("launch_script.slurm"))
    assert len(scripts) == 7 and sum(p.parent.name == "then" for p in scripts) == 3
    assert [p.parent.parent.parent.parent.name for p in scripts if p.parent.name == "first"] == ["materialize"]
    assert not (corpus / "gathered" / "mix").exists()  # the texts gathered for the shards go once they are done
    assert "#SBATCH --partition=cpu" in scripts[0].read_text()


def test_a_task_cancelled_mid_run_holds_the_source_back_until_the_same_command_redoes_it(tmp_path, inputs,
                                                                                       local_run, slurm):
    corpus = tmp_path / "corpus"
    assert run_cli("ingest", "s", inputs, "-c", corpus, *SLURM) == 0
    # scancel one array task while it runs, as a preemption or a lost node would end it
    deadline = time.monotonic() + 120
    while not (running := [j for j in slurm.run("squeue", "-h", "-t", "R", "-o", "%i %j").splitlines()
                           if j.endswith("toxmix-ingest-s") and "_2" in j.split()[0]]):
        assert time.monotonic() < deadline, slurm.run("squeue")
        time.sleep(0.05)
    task = running[0].split()[0]
    slurm.run("scancel", task)
    slurm.wait()
    assert slurm.job(task)["JobState"] == "CANCELLED"
    assert not (corpus / "meta" / "sources" / "s.json").exists()  # the publishing job never runs
    assert len(list((corpus / "logs" / "ingest" / "s" / "completions").iterdir())) == 2
    assert run_cli("ingest", "s", inputs, "-c", corpus, *SLURM) == 0
    slurm.wait()
    assert _store(corpus) == {k: v for k, v in _store(local_run[0]).items() if "tox" not in k}
    assert json.loads((corpus / "logs" / "ingest" / "s" / "ranks_to_run.json").read_text()) == [2]  # only it again


def test_the_three_stages_on_ray_give_the_local_bytes(tmp_path, inputs, fasttext_model, local_run):
    import ray
    ref_corpus, ref_lock = local_run
    corpus = tmp_path / "corpus"
    cluster = ExecutorConfig(kind="ray", workers=2, mem_per_cpu_gb=1)
    try:
        summary = ingest(IngestConfig(source="s", paths=[str(inputs)], corpus=str(corpus)), cluster)
        assert summary.stored == 360 and summary.rejected == {"duplicate_id": 1, "malformed_json": 1}
        assert tag(str(corpus), [f"fasttext:{fasttext_model},name=tox"], None, cluster).documents == 360
        lock = materialize(_manifest(tmp_path, corpus), progress=False, executor=cluster)
    finally:
        ray.shutdown()
    assert not isinstance(lock, Submitted)
    assert _store(corpus) == _store(ref_corpus)
    assert _tokens(lock) == _tokens(ref_lock) and lock.materialized.digest == ref_lock.materialized.digest
