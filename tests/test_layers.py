"""The one-way flow is enforced: import-linter's contracts hold, catch an upward import, and there are no cycles."""

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("toxmix", "mixer", "classifiers", "train", "probe", "eval")
LINT = str(Path(sys.executable).with_name("lint-imports"))


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd), "NO_COLOR": "1"}
    return subprocess.run([LINT, "--config", str(cwd / "pyproject.toml"), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_contracts_catch_an_upward_import(tmp_path):
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    assert _lint(tmp_path).returncode == 0
    store = tmp_path / "mixer" / "corpus" / "store.py"
    store.write_text(store.read_text() + "\nimport train.record  # an upward import\n")
    result = _lint(tmp_path)
    assert result.returncode == 1 and "mixer.corpus.store -> train.record" in result.stdout, result.stdout


def test_no_import_cycles_and_nothing_imports_the_cli_root():
    graph = grimp.build_graph(*PACKAGES)
    assert not graph.find_modules_that_directly_import("toxmix.cli")
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            assert not graph.chain_exists(imported, module), f"cycle through {module} and {imported}"
