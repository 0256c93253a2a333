"""Killed runs resume and end with the same bytes; worker count never changes the output."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli, tree_digest

from toxmix.mixer.corpus.writers.attributes import WriteAttributes
from toxmix.mixer.corpus.writers.staging import StageShards


def _write_inputs(folder, files: int, docs: int) -> None:
    folder.mkdir()
    for f in range(files):
        with open(folder / f"part-{f:02d}.jsonl", "w") as out:
            for d in range(docs):
                out.write(json.dumps({"id": f"{f}-{d}", "text": f"file {f} document {d} " * (1 + d % 7)}) + "\n")
        if f == 1:
            with open(folder / f"part-{f:02d}.jsonl", "a") as out:
                out.write('{"id": "0-1", "text": "a duplicate"}\n{"broken\n')


def _store_digest(corpus):
    return {k: v for k, v in tree_digest(corpus).items() if not k.startswith(("logs", "staging"))}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("in") / "parts"
    _write_inputs(folder, files=4, docs=300)
    return folder


@pytest.fixture(scope="module")
def reference(tmp_path_factory, inputs):
    corpus = tmp_path_factory.mktemp("ref") / "corpus"
    assert run_cli("ingest", "s", inputs, "--corpus", corpus) == 0
    return corpus


def test_worker_count_does_not_change_bytes(tmp_path, inputs, reference):
    corpus = tmp_path / "corpus"
    assert run_cli("ingest", "s", inputs, "--corpus", corpus, "--workers", "2") == 0
    assert _store_digest(corpus) == _store_digest(reference)


def test_ingest_crash_mid_task_resumes_to_same_bytes(tmp_path, inputs, reference, monkeypatch):
    original = StageShards.run

    def crashing(self, data, rank=0, world_size=1):
        if rank == 2:
            for i, _ in enumerate(data):
                if i == 100:
                    raise RuntimeError("simulated crash")
        yield from original(self, data, rank, world_size)

    corpus = tmp_path / "corpus"
    monkeypatch.setattr(StageShards, "run", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_cli("ingest", "s", inputs, "--corpus", corpus)
    assert not (corpus / "documents").exists()  # nothing is published before every task is done
    staged = sorted(p.name for p in (corpus / "staging" / "s").iterdir())
    assert "00002.docs.parquet" not in staged
    monkeypatch.setattr(StageShards, "run", original)
    assert run_cli("ingest", "s", inputs, "--corpus", corpus) == 0
    assert _store_digest(corpus) == _store_digest(reference)


def test_ingest_crash_while_publishing_resumes_to_same_bytes(tmp_path, inputs, reference, monkeypatch):
    """Shards without duplicates are published by renames; a crash between them leaves some published, some
    staged, and the next run finishes with the same bytes (shard 1 holds a duplicate id and is rewritten)."""
    import types

    import toxmix.mixer.corpus.finalize as finalize

    renamed = []

    def dies_on_the_third(src, dst):
        if len(renamed) == 2:
            raise OSError("the disk went away")
        renamed.append(dst)
        os.replace(src, dst)

    corpus = tmp_path / "corpus"
    monkeypatch.setattr(finalize, "os", types.SimpleNamespace(replace=dies_on_the_third))
    with pytest.raises(OSError, match="disk went away"):
        run_cli("ingest", "s", inputs, "--corpus", corpus)
    assert [Path(p).parent.parent.name for p in renamed] == ["rejected", "documents"]  # shard 0, then the crash
    monkeypatch.setattr(finalize, "os", os)
    assert run_cli("ingest", "s", inputs, "--corpus", corpus) == 0
    assert _store_digest(corpus) == _store_digest(reference)
    assert not (corpus / "staging" / "s").exists()


def test_ingest_sigkill_resumes_to_same_bytes(tmp_path, reference, inputs):
    corpus = tmp_path / "corpus"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "toxmix.app.cli", "ingest", "s", str(inputs), "--corpus", str(corpus)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    marker = corpus / "logs" / "ingest" / "s" / "completions" / "00000"
    deadline = time.time() + 60
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert marker.exists()
    assert run_cli("ingest", "s", inputs, "--corpus", corpus) == 0
    assert _store_digest(corpus) == _store_digest(reference)


def test_tag_crash_resumes_to_same_bytes(tmp_path, inputs, fasttext_model, monkeypatch):
    corpora = [tmp_path / "a", tmp_path / "b"]
    for c in corpora:
        assert run_cli("ingest", "s", inputs, "--corpus", c) == 0
    spec = f"fasttext:{fasttext_model}"
    assert run_cli("tag", "--corpus", corpora[0], "--scorer", spec) == 0

    original = WriteAttributes.run

    def crashing(self, data, rank=0, world_size=1):
        if rank == 1:
            next(iter(data))
            raise RuntimeError("simulated crash")
        yield from original(self, data, rank, world_size)

    monkeypatch.setattr(WriteAttributes, "run", crashing)
    with pytest.raises(RuntimeError):
        run_cli("tag", "--corpus", corpora[1], "--scorer", spec)
    done = sorted(p.name for p in (corpora[1] / "attributes" / "fasttext_toxicity" / "s").glob("*.parquet"))
    assert done == ["00000.parquet"]  # the crashed shard left no visible file
    monkeypatch.setattr(WriteAttributes, "run", original)
    assert run_cli("tag", "--corpus", corpora[1], "--scorer", spec) == 0
    assert tree_digest(corpora[1] / "attributes") == tree_digest(corpora[0] / "attributes")


def test_rerun_is_a_no_op_and_conflicting_rerun_needs_overwrite(tmp_path, inputs, capsys):
    corpus = tmp_path / "c"
    assert run_cli("ingest", "s", inputs, "--corpus", corpus) == 0
    before = tree_digest(corpus)
    assert run_cli("ingest", "s", inputs, "--corpus", corpus) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert tree_digest(corpus) == before
    assert run_cli("ingest", "s", inputs / "part-00.jsonl", "--corpus", corpus) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert run_cli("ingest", "s", inputs / "part-00.jsonl", "--corpus", corpus, "--overwrite") == 0
