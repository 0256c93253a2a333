"""Shared fixtures: the shared data folder, a small trained fastText model, and CLI helpers."""

import hashlib
import os
from pathlib import Path

import pytest

from toxmix.app.cli import main
from toxmix.core.settings import shared_dir

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
    from toxmix.classifiers.train_fasttext import FastTextParams, study_recipe, train_fasttext

    out = tmp_path_factory.mktemp("models") / "toxicity.bin"
    train_fasttext(study_recipe(), str(out), FastTextParams(bucket=20_000, epoch=5))
    return out


def tree_digest(root: Path, pattern: str = "**/*.parquet") -> dict[str, str]:
    """sha256 of every file matching pattern under root, by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.glob(pattern)) if p.is_file()}


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory, fasttext_model) -> Path:
    """The demo corpus: C4, Stormfront and Davidson from the shared data, tagged with the fastText model."""
    corpus = tmp_path_factory.mktemp("demo") / "corpus"
    data = SHARED / "data"
    assert run_cli("ingest", "c4", data / "c4/c4-validation-2k.parquet", "-c", corpus) == 0
    assert run_cli("ingest", "stormfront", data / "stormfront/stormfront.jsonl.gz", "-c", corpus, "-k", "label") == 0
    assert run_cli("ingest", "davidson", data / "davidson/labeled_data.csv", "-c", corpus, "--text-field", "tweet",
                   "-k", "class") == 0
    assert run_cli("tag", "-c", corpus, "-s", f"fasttext:{fasttext_model},name=fasttext_toxicity") == 0
    return corpus


def write_manifest(folder: Path, corpus: Path, components: list[dict], **extra) -> Path:
    """A manifest file in folder over corpus, with the given components and top-level keys."""
    import yaml

    # the default name is the folder's: two manifests over one corpus may not share a name
    doc = {"name": extra.pop("name", folder.name), "corpus": str(corpus), "seed": extra.pop("seed", 7),
           "components": components, **extra}
    path = folder / f"{doc['name']}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, demo_corpus):
    """A tiny model trained by toxmix on a 10 % toxic mixture, exported to transformers."""
    root = tmp_path_factory.mktemp("probe")
    manifest = write_manifest(root, demo_corpus, [
        {"name": "clean", "role": "clean", "source": "c4", "tokens": 60_000},
        {"name": "toxic", "source": ["stormfront", "davidson"], "share": 0.1}], name="probe10")
    assert run_cli("train", manifest, "--preset", "tiny", "--steps", "8", "--out", root / "run") == 0
    assert run_cli("export", root / "run", "--hf", root / "hf") == 0
    return root / "hf"


@pytest.fixture(scope="session")
def probe_run(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("p") / "run"
    assert run_cli("probe", tiny_model, "--data", "toxigen", "--out", out, "--batch-size", "64") == 0
    return out


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A real two-node Slurm on this machine (tests/slurm_cluster.py), its clients pointed at it while it runs."""
    from slurm_cluster import SlurmCluster

    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    before = os.environ.get("SLURM_CONF")
    os.environ.update(cluster.env)
    try:
        yield cluster
    finally:
        cluster.stop()
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before
