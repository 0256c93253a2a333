"""The README's walkthroughs as a new user runs them: every command block marked `<!-- walkthrough -->` runs
verbatim, in README order, in one fresh folder laid out like a clone (manifests/, .venv, ../shared); every other
command block says why it is not run."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"(?:<!-- (?P<marker>[^\n]*?) -->\n)?```(?P<lang>[a-z]*)\n(?P<body>.*?)^```", re.S | re.M)
COMMAND_LANGS = ("bash", "python")


def readme_blocks() -> list[tuple[str | None, str, str]]:
    """(marker, language, body) of every fenced block of the README, in order."""
    return [(m["marker"], m["lang"], m["body"]) for m in FENCE.finditer((ROOT / "README.md").read_text())]


def test_every_command_block_is_run_or_says_why_not():
    blocks = [(marker, lang, body) for marker, lang, body in readme_blocks() if lang in COMMAND_LANGS]
    known = ("walkthrough", "ci:setup", "ci:test")
    unmarked = [body.splitlines()[0] for marker, _, body in blocks
                if not marker or not (marker in known or marker.startswith("not run: "))]
    assert not unmarked, f"README command blocks with no <!-- walkthrough --> or <!-- not run: why --> : {unmarked}"
    assert sum(marker == "walkthrough" for marker, _, _ in blocks) >= 8


def _script() -> str:
    """The walkthrough blocks as one bash script (a `source` in one block holds for the next)."""
    parts = ["set -euo pipefail"]
    for i, (marker, lang, body) in enumerate(readme_blocks()):
        if marker != "walkthrough":
            continue
        parts.append(f"echo '### README block {i}' >&2")
        parts.append(body if lang == "bash" else f"python - <<'TOXMIX_README_PYTHON'\n{body}TOXMIX_README_PYTHON")
    return "\n".join(parts) + "\n"


def test_the_readme_walkthroughs_run_verbatim(tmp_path, shared):
    clone = tmp_path / "toxmix"
    shutil.copytree(ROOT / "manifests", clone / "manifests")
    (clone / ".venv").symlink_to(Path(sys.prefix))  # the set-up block's virtualenv
    (tmp_path / "shared").symlink_to(shared)  # ../shared beside the clone
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "TOXMIX_SHARED")}
    env |= {"PATH": "/usr/local/bin:/usr/bin:/bin", "OMP_NUM_THREADS": "2", "TOXMIX_CACHE": str(tmp_path / "cache"),
            "HOME": str(tmp_path)}
    (clone / "walkthrough.sh").write_text(_script())
    done = subprocess.run(["bash", "walkthrough.sh"], cwd=clone, env=env, capture_output=True, text=True,
                          timeout=1500)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    # what each walkthrough promises
    rows = dict(re.findall(r"│ (stormfront|c4)\s*│\s*([\d,]+)\s*│", done.stdout))
    assert int(rows["stormfront"].replace(",", "")) > 10_000, done.stdout[-2000:]
    assert (clone / "scorer-eval").is_dir() and (clone / "plots").is_dir()
    assert len(list((clone / "manifests" / "demo").glob("demo-*.lock.json"))) == 6
    assert "dry run: 12 runs planned, none trained" in done.stdout
    assert "1,176,764,416 parameters" in done.stdout
    assert f"done {clone / 'runs' / 'from-python'}" in done.stdout
    assert "--k 0: input should be greater than or equal to 1" in done.stdout
    assert json.loads((clone / "models" / "demo-10-iti8" / "toxmix_iti.json").read_text())["alpha"] == 8
    report = (clone / "report" / "report.html").read_text()
    assert "Table 1" in report and "Findings" in report and "demo-10" in report
    assert (clone / "toy-quick" / "SUMMARY.md").is_file()


def test_train_fasttext_from_explicit_rules(tmp_path, shared, capsys):
    out = tmp_path / "davidson.ftz"
    assert run_cli("classifiers", "train-fasttext", "--data", shared / "data/davidson/labeled_data.csv",
                   "--label-rule", "class=0,1/2", "--text-field", "tweet", "--bucket", "20000", "--quantize",
                   "--out", out) == 0
    text = capsys.readouterr().out
    report = json.loads((tmp_path / "davidson.ftz.report.json").read_text())
    assert report["roc_auc"] > 0.85 and f"{report['roc_auc']:.3f}" in text and "in domain (held-out split)" in text
    assert out.is_file() and report["datasets"] == [str(shared / "data/davidson/labeled_data.csv")]
    assert run_cli("classifiers", "train-fasttext", "--data", shared / "data/davidson/labeled_data.csv",
                   "--label-rule", "class=0,1", "--out", out) == 2
    assert "FIELD=TOXIC_VALUES/CLEAN_VALUES" in capsys.readouterr().err
