"""One import namespace: the wheel installs `toxmix` alone, and a user's `mixer.py` or `train.py` shadows nothing."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_FOLDERS = ("toxmix", "mixer", "classifiers", "train", "probe", "eval")
TOXMIX = str(Path(sys.executable).with_name("toxmix"))


def test_the_wheel_installs_exactly_one_top_level_name_and_every_module(tmp_path):
    src = tmp_path / "src"  # a copy, so that setuptools' build/ folder is not left in the checkout
    for name in PACKAGE_FOLDERS:
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path), str(src)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("toxmix-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        top_level = z.read(next(n for n in names if n.endswith(".dist-info/top_level.txt"))).decode().split()
    assert top_level == ["toxmix"]
    assert {n.split("/")[0] for n in names} == {"toxmix", wheel.name.split("-py")[0] + ".dist-info"}
    tracked = subprocess.run(["git", "ls-files", *PACKAGE_FOLDERS], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    expected = {f if f.startswith("toxmix/") else f"toxmix/{f}" for f in tracked if f.endswith(".py")}
    assert expected and expected <= set(names), sorted(expected - set(names))


def _commands(group, path=()):
    """Every command path of the `toxmix` app, e.g. ('manifest', 'resolve')."""
    import typer.main

    cmd = typer.main.get_command(group) if not hasattr(group, "commands") else group
    for name, sub in cmd.commands.items():
        if hasattr(sub, "commands"):
            yield from _commands(sub, (*path, name))
        else:
            yield (*path, name)


@pytest.fixture
def shadowed(tmp_path) -> Path:
    """A research folder whose commonest file names are the stages' names, each raising when imported."""
    for name in ("mixer", "train", "probe", "eval", "classifiers"):
        (tmp_path / f"{name}.py").write_text(f"raise SystemExit('the working directory {name}.py was imported')\n")
    return tmp_path


def test_a_folder_of_stage_named_files_shadows_nothing(shadowed, shared):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=shadowed, capture_output=True, text=True, timeout=300)

    said = run(sys.executable, "-c", "from toxmix import Corpus, resolve; print(Corpus.__module__, resolve.__name__)")
    assert said.returncode == 0 and said.stdout.split() == ["toxmix.app.api", "resolve"], said.stderr
    every_module = ("import pkgutil, importlib, toxmix; [importlib.import_module(m.name) for m in "
                    "pkgutil.walk_packages(toxmix.__path__, 'toxmix.')]; print('imported')")
    said = run(sys.executable, "-c", every_module)
    assert said.returncode == 0 and said.stdout.strip() == "imported", said.stderr

    from toxmix.app.cli import _register_stages, app

    _register_stages([])
    commands = list(_commands(app))
    assert ("manifest", "resolve") in commands and ("eval",) in commands and len(commands) >= 19
    for path in commands:
        said = run(TOXMIX, *path, "--help")
        assert said.returncode == 0 and "Example" in said.stdout, (path, said.stderr)
        assert f"Usage: toxmix {' '.join(path)} " in said.stdout, said.stdout[:300]  # the verb, not a lone root
    c4 = shared / "data" / "c4" / "c4-validation-2k.parquet"
    assert run(TOXMIX, "ingest", "c4", str(c4), "--corpus", "corpus").returncode == 0
    said = run(TOXMIX, "sql", "--corpus", "corpus", "--format", "csv", "SELECT count(*) AS n FROM docs")
    assert said.returncode == 0 and said.stdout.split() == ['"n"', "2000"], said.stderr


def test_the_command_root_loads_no_heavy_library():
    """`toxmix --help` (and every command's start) pays for no stage's libraries: they load in the commands that
    run them."""
    code = ("import sys; from toxmix.app.cli import main; main(['--help']); heavy = [m for m in ('torch', "
            "'datatrove', 'transformers', 'olmo_core', 'duckdb', 'pyarrow', 'sklearn') if m in sys.modules]; "
            "assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1000:]


def test_the_table_of_stages_is_what_each_stage_registers_and_a_command_imports_only_its_own():
    import importlib

    import typer

    from toxmix.app.cli import STAGES

    for stage, verbs in STAGES.items():
        one = typer.Typer()
        importlib.import_module(f"toxmix.app.commands.{stage}").register(one)
        names = [c.name or c.callback.__name__ for c in one.registered_commands] + [g.name for g in
                                                                                   one.registered_groups]
        assert sorted(names) == sorted(verbs), stage
    code = ("import sys; from toxmix.app.cli import main; main(['sql', '--help']); loaded = sorted(m for m in "
            "sys.modules if m.startswith('toxmix.app.commands.') and m != 'toxmix.app.commands.options'); "
            "print(loaded); heavy = [m for m in ('torch', 'datatrove', 'transformers', 'olmo_core', 'numpy') "
            "if m in sys.modules]; assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1000:]
    assert done.stdout.strip().splitlines()[-1] == "['toxmix.app.commands.corpus']"
