"""Shared fixtures: the shared data folder, a small trained fastText model, and CLI helpers."""

import hashlib
from pathlib import Path

import pytest

from mixer.cli import main
from mixer.settings import shared_dir

SHARED = shared_dir()


def pytest_configure(config):
    if not (SHARED / "data" / "c4" / "c4-validation-2k.parquet").is_file():
        raise pytest.UsageError(f"shared data not found at {SHARED}; set TOXMIX_SHARED to the shared/ folder")


@pytest.fixture(scope="session")
def shared() -> Path:
    return SHARED


def run_cli(*args: str) -> int:
    """Run the toxmix CLI in-process; return its exit code."""
    return main([str(a) for a in args])


@pytest.fixture(scope="session")
def fasttext_model(tmp_path_factory) -> Path:
    """A fastText toxicity model trained on the shared labelled data, with few buckets to stay small."""
    from classifiers.train_fasttext import FastTextParams, study_recipe, train_fasttext

    out = tmp_path_factory.mktemp("models") / "toxicity.bin"
    train_fasttext(study_recipe(), str(out), FastTextParams(bucket=20_000, epoch=5))
    return out


def tree_digest(root: Path, pattern: str = "**/*.parquet") -> dict[str, str]:
    """sha256 of every file matching pattern under root, by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.glob(pattern)) if p.is_file()}
