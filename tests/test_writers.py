"""One writer per output, and no process outliving the command that started it."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import run_cli, write_manifest

from toxmix.mixer.corpus.store import CorpusLayout

REPO = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _wait_until(condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


class HeldLock:
    """Another process holding a toxmix writer lock, as a running command would."""

    def __init__(self, path: Path):
        code = textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from toxmix.core.locks import one_writer
            with one_writer(Path({str(path)!r}), "test"):
                print("held", flush=True)
                sys.stdin.read()
        """)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=REPO)
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)


@pytest.fixture
def small_corpus(tmp_path, shared):
    corpus = tmp_path / "corpus"
    assert run_cli("ingest", "c4", shared / "data/c4/c4-validation-2k.parquet", "-c", corpus) == 0
    return corpus


def test_a_second_tag_of_one_table_is_refused_or_waits(small_corpus, fasttext_model, capsys):
    spec = f"fasttext:{fasttext_model},name=tox"
    held = HeldLock(CorpusLayout.at(small_corpus).lock("tag", "tox"))
    try:
        assert run_cli("tag", "-c", small_corpus, "-s", spec) == 2
        err = capsys.readouterr().err
        assert f"scorer table 'tox' is being written by another toxmix process (pid {held.proc.pid})" in err
        assert "--wait" in err and not (small_corpus / "attributes" / "tox").exists()
    finally:
        releaser = __import__("threading").Timer(1.0, held.release)
        releaser.start()
    assert run_cli("tag", "-c", small_corpus, "-s", spec, "--wait") == 0  # queued behind it, then tagged
    releaser.join()
    assert "tagged 2,000 documents" in capsys.readouterr().out


def test_tag_scores_only_what_lacks_the_table(small_corpus, fasttext_model, shared, capsys):
    spec = f"fasttext:{fasttext_model},name=tox"
    assert run_cli("tag", "-c", small_corpus, "-s", spec) == 0
    before = {p: p.stat().st_mtime_ns for p in (small_corpus / "attributes" / "tox").rglob("*.parquet")}
    capsys.readouterr()
    assert run_cli("tag", "-c", small_corpus, "-s", spec) == 0
    assert "already tagged by this model: c4" in capsys.readouterr().out
    assert run_cli("ingest", "storm", shared / "data/stormfront/stormfront.jsonl.gz", "-c", small_corpus) == 0
    capsys.readouterr()
    assert run_cli("tag", "-c", small_corpus, "-s", spec) == 0
    out = capsys.readouterr().out
    assert "already tagged by this model: c4" in out and "tagged 10,944 documents in 1 shards" in out
    assert {p: p.stat().st_mtime_ns for p in before} == before  # c4's table was not rewritten
    assert run_cli("tag", "-c", small_corpus, "-s", spec, "--retag") == 0
    assert "tagged 12,944 documents in 2 shards" in capsys.readouterr().out
    assert all(p.stat().st_mtime_ns != t for p, t in before.items())  # scored again, not skipped by a marker
    # a source ingested again loses its scores; tag writes them again although its task once completed
    assert run_cli("ingest", "storm", shared / "data/stormfront/stormfront.jsonl.gz", "-c", small_corpus, "-k",
                   "label", "--overwrite") == 0
    assert not (small_corpus / "attributes" / "tox" / "storm").exists()
    assert run_cli("tag", "-c", small_corpus, "-s", spec) == 0
    assert (small_corpus / "attributes" / "tox" / "storm" / "00000.parquet").is_file()


def test_a_second_writer_of_a_mixture_is_refused(tmp_path, demo_corpus, capsys):
    path = write_manifest(tmp_path, demo_corpus, [{"name": "clean", "source": "c4", "tokens": 20_000}])
    held = HeldLock(CorpusLayout.at(demo_corpus).lock("mixture", path.stem))
    try:
        for verb in ("resolve", "materialize"):
            assert run_cli("manifest", verb, path) == 2
            assert f"mixture '{path.stem}' is being written by another toxmix process" in capsys.readouterr().err
        assert not path.with_name(f"{path.stem}.lock.json").exists()
    finally:
        held.release()
    assert run_cli("manifest", "materialize", path) == 0


def test_pool_workers_die_with_a_killed_parent(tmp_path):
    """datatrove's and materialize's pools (forkserver) run exit_with_parent_if_worker in every worker."""
    script = tmp_path / "pool.py"
    script.write_text(textwrap.dedent("""
        import os, sys, time
        import multiprocess

        def work(_):
            from toxmix.core.processes import exit_with_parent_if_worker
            exit_with_parent_if_worker()
            os.write(1, f"{os.getpid()}\\n".encode())  # one write, so the two workers' lines cannot interleave
            time.sleep(300)

        if __name__ == "__main__":
            with multiprocess.get_context("forkserver").Pool(2) as pool:
                pool.map(work, range(2))
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    workers = [int(proc.stdout.readline()), int(proc.stdout.readline())]
    assert all(_alive(w) for w in workers)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _wait_until(lambda: not any(_alive(w) for w in workers), 30)


def test_tag_workers_are_gone_after_kill_9(tmp_path, shared, fasttext_model):
    corpus = tmp_path / "corpus"
    data = tmp_path / "parts"
    data.mkdir()
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    texts = pq.read_table(shared / "data/c4/c4-validation-2k.parquet", columns=["text"]).column("text")
    long = pc.binary_join_element_wise(*[texts] * 8, " ")  # sentence-level scoring of long texts takes a while
    for i in range(4):
        ids = pa.array([f"{i}-{j}" for j in range(len(long))])
        pq.write_table(pa.table({"id": ids, "text": long}), data / f"p{i}.parquet")
    assert run_cli("ingest", "c4", data, "-c", corpus) == 0
    # a slow scorer (sentence level on repeated text) so that the workers are still scoring when killed
    proc = subprocess.Popen([sys.executable, "-m", "toxmix.app.cli", "tag", "-c", str(corpus), "-w", "2", "-s",
                             f"fasttext:{fasttext_model},level=sentence"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=tmp_path)
    descendants: set[int] = set()

    def workers_started() -> bool:
        frontier = [proc.pid]
        while frontier:
            kids = _children(frontier.pop())
            descendants.update(kids)
            frontier += kids
        return len(descendants) >= 4 or proc.poll() is not None  # datatrove's manager, forkserver, two workers

    _wait_until(workers_started, 120)
    assert proc.poll() is None, "tag finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _wait_until(lambda: not any(_alive(p) for p in descendants), 30)
