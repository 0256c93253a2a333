"""ingest, tag and materialize on Slurm (datatrove's real submission path, with a stand-in sbatch) and on a local
Ray instance give the same bytes as local runs."""

import json
import os
from pathlib import Path

import pytest
from conftest import run_cli, tree_digest, write_manifest

from toxmix.mixer.corpus.executors import ExecutorConfig, Submitted
from toxmix.mixer.corpus.ingest import IngestConfig, ingest
from toxmix.mixer.corpus.tag import tag
from toxmix.mixer.manifest.lockfile import read_lock
from toxmix.mixer.manifest.materialize import materialize

FIXTURES = Path(__file__).parent / "fixtures"


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


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sbatch", "srun", "scontrol"):
        (bin_dir / tool).symlink_to(FIXTURES / f"fake_{tool}.py")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(tmp_path / "slurm"))
    return tmp_path / "slurm"


def _tokens(lock) -> dict[str, str]:
    return {s.path: s.sha256 for s in lock.materialized.shards}


def test_the_three_stages_on_slurm_give_the_local_bytes(tmp_path, inputs, fasttext_model, local_run, fake_slurm,
                                                        capsys):
    ref_corpus, ref_lock = local_run
    corpus = tmp_path / "corpus"
    slurm = ("--executor", "slurm", "--slurm-partition", "cpu", "--workers", "2")
    assert run_cli("ingest", "s", inputs, "-c", corpus, *slurm) == 0
    assert "submitted 3 ingest tasks to slurm" in capsys.readouterr().out
    assert run_cli("tag", "-c", corpus, "-s", f"fasttext:{fasttext_model},name=tox", *slurm) == 0
    assert run_cli("manifest", "materialize", _manifest(tmp_path, corpus), *slurm) == 0
    assert "submitted 3 materialize tasks to slurm" in capsys.readouterr().out
    assert _store(corpus) == _store(ref_corpus)
    lock = read_lock(tmp_path / "mix.lock.json")
    assert len(lock.materialized.shards) == 3 and _tokens(lock) == _tokens(ref_lock)
    assert lock.materialized.digest == ref_lock.materialized.digest
    assert not (fake_slurm / "failed").exists()
    # each stage was an array job, then the one job that completes its output; materialize gathers first
    scripts = sorted((corpus / "logs").rglob("launch_script.slurm"))
    assert len(scripts) == 7 and sum(p.parent.name == "then" for p in scripts) == 3
    assert [p.parent.parent.parent.parent.name for p in scripts if p.parent.name == "first"] == ["materialize"]
    assert not (corpus / "gathered" / "mix").exists()  # the texts gathered for the shards go once they are done
    assert "#SBATCH --partition=cpu" in scripts[0].read_text()


def test_a_lost_slurm_task_holds_the_source_back_until_a_rerun_redoes_it(tmp_path, inputs, local_run, fake_slurm,
                                                                         monkeypatch):
    corpus = tmp_path / "corpus"
    slurm = ("--executor", "slurm", "--slurm-partition", "cpu")
    monkeypatch.setenv("FAKE_SLURM_LOSE", "toxmix-ingest-s:2")
    assert run_cli("ingest", "s", inputs, "-c", corpus, *slurm) == 0
    assert not (corpus / "meta" / "sources" / "s.json").exists()  # the publishing job waits on every task
    assert len(list((corpus / "logs" / "ingest" / "s" / "completions").iterdir())) == 2
    monkeypatch.delenv("FAKE_SLURM_LOSE")
    assert run_cli("ingest", "s", inputs, "-c", corpus, *slurm) == 0
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
