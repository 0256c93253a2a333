"""`toxmix demo --profile quick`: killed mid-way, resumed, and its report rendered by a real headless browser."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import run_cli


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "the report check needs Debian's chromium: apt-get install -y chromium (.ci/run installs it)"
    return path


def test_quick_demo_resumes_after_a_kill_and_its_report_renders(tmp_path, capsys):
    out = tmp_path / "demo"
    toxmix = Path(sys.executable).with_name("toxmix")
    proc = subprocess.Popen([str(toxmix), "demo", "--profile", "quick", "--out", str(out)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = out / "stages" / "03-stats.json"
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert marker.exists(), "the demo did not reach its third stage"
    os.killpg(proc.pid, signal.SIGKILL)  # the demo and the stage it is running, mid-way
    proc.wait()
    capsys.readouterr()
    assert run_cli("demo", "--profile", "quick", "--out", out) == 0
    said = capsys.readouterr().out
    assert "[1/10] ingest: done earlier" in said and "[3/10] stats: done earlier" in said
    assert "[10/10] report: done" in said
    assert run_cli("demo", "--profile", "full", "--out", out) == 2  # another profile never reuses these stages
    assert "holds a demo of profile quick" in capsys.readouterr().err
    # a stage is skipped only while its outputs are intact: a deleted report is written again
    (out / "report" / "report.html").unlink()
    assert run_cli("demo", "--profile", "quick", "--out", out) == 0
    said = capsys.readouterr().out
    assert "[9/10] toy: done earlier" in said and "report/report.html is missing; running it again" in said
    assert (out / "report" / "report.html").is_file()
    # a logged command is complete: pasted into a shell it reruns and finds the demo's generations cached
    logged = next(line for line in (out / "logs" / "08-eval.log").read_text().splitlines() if line.startswith("$ "))
    rerun = subprocess.run(["bash", "-c", logged.removeprefix("$ ")], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-500:]
    result = json.loads((out / "evals" / "demo-00-s0" / "result.json").read_text())
    assert all(c["cached_generations"] for c in result["conditions"]), rerun.stdout[-800:]
    report = out / "report" / "report.html"
    page = report.read_text()
    n_figures = page.count("data:image/png;base64,")
    # trade-off, probe comparison, two heatmaps, composition, training, score histograms, toy
    assert n_figures >= 8, n_figures
    for needle in ("Table 1", "demo-00-s0", "demo-10-s0", "ITI α=12", "prompting", "What CPU scale can and cannot",
                   "manifests/paper", "piqa"):
        assert needle in page, needle
    # the findings, in sentences with their numbers and intervals, against an untrained model of the same kind
    findings = page.split("<h2>Findings</h2>")[1].split("</ul>")[0]
    assert "against the untrained floor (untrained)" in findings and "distinguishable from an untrained" in findings
    number = r"[+-]\d\.\d{3}"
    assert re.search(rf"top-\d+ mean validation accuracy {number} \(95 % CI {number} to {number}", findings)
    assert "Toy experiment: " in findings and "without intervention" in findings
    assert "813,056 parameters" in page and "toxmix train manifests/paper/paper-10.yaml" in page
    assert "The toy experiment: how entangled" in page  # captions say what a figure shows, not its file name
    assert re.search(r"\| 10% \| demo-10-s0 \| ITI α=4 \| \d", (out / "report" / "report.md").read_text())
    # a real browser: every figure decodes, nothing on the console, a screenshot is drawn
    browser = _chromium()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", "--enable-logging=stderr",
             "--v=0"]
    dom = subprocess.run([browser, *flags, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120)
    assert f'data-figures="{n_figures}/{n_figures}"' in dom.stdout, dom.stdout[-300:]
    assert "CONSOLE" not in dom.stderr, [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    shot = tmp_path / "report.png"
    subprocess.run([browser, *flags, "--window-size=1400,3000", f"--screenshot={shot}", report.as_uri()],
                   capture_output=True, timeout=120, cwd=tmp_path)
    assert shot.stat().st_size > 50_000
    from PIL import Image, ImageStat

    with Image.open(shot) as image:  # drawn, not blank: text and figures make the pixels vary
        assert max(ImageStat.Stat(image.convert("L")).stddev) > 20
