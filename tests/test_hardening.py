"""Hostile input, second round: limits that really bound, writers that share a corpus, a full disk, and the new
stages' inputs. Each case failed before (a traceback, an unbounded process, or a wrong result)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import run_cli, write_manifest

from toxmix import Corpus
from toxmix.core.errors import ToxmixError

TOXMIX = str(Path(sys.executable).with_name("toxmix"))
RUNAWAY = "SELECT list_sum(range(600000000)) AS s"  # one 4.8 GB list: DuckDB's memory_limit does not cover it


def _run(*args, cwd=None, timeout=300) -> tuple[int, str, int]:
    """A toxmix command as its own process: exit code, stderr, and its peak resident memory in MB."""
    proc = subprocess.Popen([TOXMIX, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        assert time.monotonic() < deadline, f"{args} ran past {timeout} s"
        time.sleep(0.05)
    return os.waitstatus_to_exitcode(status), proc.stderr.read().decode(), usage.ru_maxrss // 1024


def _one_error(err: str) -> bool:
    """One `error:` line and no traceback (progress bars on stderr aside)."""
    return sum(line.startswith("error:") for line in err.splitlines()) == 1 and "Traceback" not in err


def _hwm_mb() -> int:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM"))
    return int(line.split()[1]) // 1024


def test_a_runaway_query_is_stopped_in_the_command_and_in_python(demo_corpus):
    code, err, peak = _run("sql", "-c", demo_corpus, "--timeout", "5", "--memory-limit", "200MB", RUNAWAY)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "memory" in err, err
    # the bound: the memory limit + 1 GiB + what the process held at the start, overshot by at most one 50 ms poll
    assert peak < 2000, peak  # was 17.4 GB resident before it was stopped
    code, err, _ = _run("sql", "-c", demo_corpus, "--timeout", "2", "SELECT sum(range) FROM range(100000000000)")
    assert code == 2 and "query stopped after 2 s" in err and len(err.strip().splitlines()) == 1, err
    before = _hwm_mb()
    with pytest.raises(ToxmixError, match="memory"):  # in a child: this process never holds the list
        Corpus(demo_corpus, timeout=5, memory_limit="200MB").sql(RUNAWAY).fetchall()
    assert _hwm_mb() - before < 300


def test_a_runaway_predicate_stops_resolve_and_validate_in_one_line(tmp_path, demo_corpus):
    path = write_manifest(tmp_path, demo_corpus, [{"name": "clean", "source": "c4", "tokens": 1000,
                                                   "where": "list_sum(range(1000000000)) > 0"}], name="runaway")
    for verb in ("validate", "resolve"):
        code, err, peak = _run("manifest", verb, path, "--memory-limit", "300MB")
        assert code == 2 and len(err.strip().splitlines()) == 1 and "memory" in err, (verb, err)
        assert peak < 2100, (verb, peak)  # 300 MB + 1 GiB + the process's start, as above
    assert not path.with_name("runaway.lock.json").exists()
    assert not list((demo_corpus / "locks").glob("mixture-runaway*")) and not any((demo_corpus / "spill").glob("*"))


def test_resolves_of_different_mixtures_and_readers_share_a_corpus(tmp_path, demo_corpus):
    """Three resolves at once and a reader beside them: none crashes on a catalog lock, all three are listed."""
    names = [f"share{i}" for i in range(3)]
    paths = [write_manifest(tmp_path, demo_corpus, [
        {"name": "clean", "role": "clean", "source": "c4", "tokens": 20_000 + 1000 * i},
        {"name": "toxic", "source": "stormfront", "share": 0.1}], name=n) for i, n in enumerate(names)]
    procs = [subprocess.Popen([TOXMIX, "manifest", "resolve", str(p)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for p in paths]
    readers = [subprocess.run([TOXMIX, "sql", "-c", str(demo_corpus), "SELECT count(*) FROM docs"],
                              capture_output=True, text=True) for _ in range(3)]
    errors = [p.communicate(timeout=300)[1].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    assert all(r.returncode == 0 for r in readers), [r.stderr for r in readers]
    listed = Corpus(demo_corpus).sql("SELECT DISTINCT mixture FROM mixtures WHERE mixture LIKE 'share%' "
                                     "ORDER BY 1").fetchall()
    assert [r[0] for r in listed] == names and all(p.with_name(f"{p.stem}.lock.json").is_file() for p in paths)


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB filesystem (tmpfs): writing a corpus or a model there fills it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_one_line_and_nothing_half_written_is_left(small_disk, shared, tiny_model, tmp_path,
                                                                  demo_corpus):
    c4 = shared / "data" / "c4" / "c4-validation-2k.parquet"
    code, err, _ = _run("ingest", "c4", c4, "--corpus", small_disk / "corpus")
    assert code == 2 and "no space left on the disk holding" in err and "MiB free" in err, err
    assert _one_error(err) and not (small_disk / "corpus" / "documents").exists()
    path = write_manifest(tmp_path, demo_corpus, [{"name": "clean", "source": "c4", "tokens": 900_000}],
                          name="fills", output={"dir": str(small_disk / "tokens"), "shard_tokens": 100_000})
    code, err, _ = _run("manifest", "materialize", path)
    assert code == 2 and "no space left" in err and _one_error(err), err
    assert json.loads(path.with_name("fills.lock.json").read_text())["materialized"] is None
    run = tiny_model.parent / "run"
    code, err, _ = _run("export", run, "--hf", small_disk / "model")
    assert code == 2 and "no space left" in err and _one_error(err), err
    assert not (small_disk / "model").exists() and not list(small_disk.glob(".model*"))


def test_a_model_folder_without_a_model_type_is_one_line(tmp_path, capsys):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    for args in (["probe", folder, "--out", tmp_path / "p"], ["iti", "apply", folder, tmp_path / "x.safetensors"]):
        capsys.readouterr()
        assert run_cli(*args) == 2
        err = capsys.readouterr().err
        assert "has no model_type" in err or "no ITI file" in err, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def eval_result(tiny_model, fasttext_model, tmp_path_factory) -> dict:
    """A real result.json of a small eval."""
    out = tmp_path_factory.mktemp("ev") / "ev"
    os.environ.setdefault("TOXMIX_CACHE", str(out.parent / "cache"))
    assert run_cli("eval", tiny_model, "--scorer", f"fasttext:{fasttext_model}", "--toxigen", "0", "--rtp", "6",
                   "--k", "1", "--max-new-tokens", "2", "--ce", "none", "--out", out) == 0
    return json.loads((out / "result.json").read_text())


def test_report_refuses_impossible_results_and_escapes_what_it_shows(tmp_path, capsys, eval_result):
    from toxmix.eval.report import write_report

    result = eval_result
    folder = tmp_path / "ev"
    folder.mkdir()
    bad = json.loads(json.dumps(result))
    bad["conditions"][0]["toxicity"]["rtp"]["prompts"] = -3
    (folder / "result.json").write_text(json.dumps(bad))
    with pytest.raises(ToxmixError, match="prompts is invalid"):
        write_report([folder], tmp_path / "r")
    bad = json.loads(json.dumps(result))
    bad["sampling"]["k"] = -1
    (folder / "result.json").write_text(json.dumps(bad))
    with pytest.raises(ToxmixError, match="sampling.k is invalid"):
        write_report([folder], tmp_path / "r")
    bad = json.loads(json.dumps(result))
    bad["conditions"][0]["toxicity"]["rtp"]["emt"]["value"] = 7.5
    (folder / "result.json").write_text(json.dumps(bad))
    with pytest.raises(ToxmixError, match="emt.value is invalid"):
        write_report([folder], tmp_path / "r")
    hostile = json.loads(json.dumps(result)) | {"label": "<script>alert(1)</script><img src=x onerror=alert(2)>"}
    (folder / "result.json").write_text(json.dumps(hostile))
    (tmp_path / "preface.md").write_text("Hello <script>alert(3)</script>")
    fake_png = tmp_path / "passwd.png"
    shutil.copy("/etc/passwd", fake_png)
    assert run_cli("report", folder, "--figure", fake_png, "--out", tmp_path / "r") == 2
    assert "not a PNG image" in capsys.readouterr().err
    paths = write_report([folder], tmp_path / "r", preface=tmp_path / "preface.md")
    for page in (paths["markdown"].read_text(), paths["html"].read_text()):
        assert "<script>alert" not in page and "<img src=x" not in page and "&lt;script&gt;" in page


def test_perspective_true_and_false_are_missing_not_scores(tmp_path):
    """A JSON boolean passed the [0, 1] check as a number: true scored 1.0, false 0.0."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from toxmix.eval.perspective import PerspectiveClient

    class Answers(BaseHTTPRequestHandler):
        def do_POST(self):
            text = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["comment"]["text"]
            value = json.loads(text.removeprefix("value:"))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(json.dumps({"attributeScores": {"TOXICITY": {"summaryScore": {"value": value}}}}).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        os.environ["PERSPECTIVE_API_KEY"] = "test-key"
        client = PerspectiveClient(f"http://127.0.0.1:{server.server_address[1]}/v1", qps=500, max_retries=0,
                                   cache=tmp_path / "p.sqlite")
        scores = client.score(["value:true", "value:false", 'value:"0.5"', "value:0.25", "value:1.5"])[:, 0]
    finally:
        server.shutdown()
        os.environ.pop("PERSPECTIVE_API_KEY", None)
    assert scores[3] == 0.25 and all(s != s for s in scores[[0, 1, 2, 4]])  # NaN: missing
    assert sum(v for k, v in client.failures.items() if k.startswith("malformed response")) == 4, client.failures


def test_mixture_lock_files_do_not_outlive_their_holder(tmp_path, demo_corpus):
    path = write_manifest(tmp_path, demo_corpus, [{"name": "clean", "source": "c4", "tokens": 10**9}], name="huge")
    assert run_cli("manifest", "resolve", path) == 2  # infeasible
    assert not list((demo_corpus / "locks").glob("mixture-huge*"))
    doc = yaml.safe_load(path.read_text())
    assert doc["name"] == "huge"
