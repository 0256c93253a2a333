"""The one-way flow is enforced: import-linter's contracts hold, catch an upward import, and there are no cycles."""

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("mixer", "classifiers", "train", "probe", "eval")
LINT = str(Path(sys.executable).with_name("lint-imports"))


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    site = next(p for p in sys.path if p.endswith("site-packages"))  # typer and click, for the app-layer contract
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{cwd}:{site}", "NO_COLOR": "1"}
    return subprocess.run([LINT, "--config", str(cwd / "pyproject.toml"), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of the packages in the repository's layout: stage folders at the top, linked from toxmix/."""
    tmp = tmp_path_factory.mktemp("layers")
    for pkg in ("toxmix", *STAGES):
        shutil.copytree(ROOT / pkg, tmp / pkg, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp)
    return tmp


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("mixer/corpus/store.py", "import toxmix.train.record", "toxmix.mixer.corpus.store -> toxmix.train.record"),
    ("eval/metrics.py", "import toxmix.probe.run", "toxmix.eval.metrics -> toxmix.probe.run"),
    ("train/record.py", "import typer", "toxmix.train.record -> typer"),
    ("toxmix/core/files.py", "import toxmix.classifiers.spec", "toxmix.core.files -> toxmix.classifiers.spec"),
])
def test_contracts_catch_a_forbidden_import(tree, module, line, broken):
    assert _lint(tree).returncode == 0
    path = tree / module
    before = path.read_text()
    path.write_text(before + f"\n{line}  # a forbidden import\n")
    try:
        result = _lint(tree)
    finally:
        path.write_text(before)
    assert result.returncode == 1 and broken in result.stdout, result.stdout


def test_eval_may_use_iti(tree):
    path = tree / "eval" / "metrics.py"
    before = path.read_text()
    path.write_text(before + "\nimport toxmix.probe.iti  # probe's public interface for eval\n")
    try:
        assert _lint(tree).returncode == 0
    finally:
        path.write_text(before)


def test_no_import_cycles_and_nothing_imports_the_cli_root():
    graph = grimp.build_graph("toxmix", cache_dir=None)
    assert {"toxmix.mixer.corpus.store", "toxmix.eval.run", "toxmix.app.cli"} <= graph.modules
    assert not graph.find_modules_that_directly_import("toxmix.app.cli")
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            assert not graph.chain_exists(imported, module), f"cycle through {module} and {imported}"
