"""Typed contracts between stages: the lock and the run record refuse what they cannot read, in one line."""

import json

import pytest
from conftest import run_cli, write_manifest

from toxmix.core.errors import ToxmixError
from toxmix.mixer.manifest.lockfile import LOCK_VERSION, read_lock
from toxmix.mixer.manifest.resolve import resolve
from toxmix.train.presets import get_preset
from toxmix.train.record import RunRecord


@pytest.fixture(scope="module")
def lock_file(tmp_path_factory, demo_corpus):
    folder = tmp_path_factory.mktemp("lock")
    path = write_manifest(folder, demo_corpus, [{"name": "clean", "source": "c4", "tokens": 20_000}], name="typed")
    return resolve(path).lock_file


def _rewrite(src, dst, change) -> None:
    raw = json.loads(src.read_text())
    change(raw)
    dst.write_text(json.dumps(raw))


def test_lock_reads_back_typed(lock_file):
    lock = read_lock(lock_file)
    assert lock.version == LOCK_VERSION and lock.lock_digest == lock.digest()
    assert lock.tokenizer.eos_id == 50279 and lock.tokenizer.pad_id == 1
    assert lock.components["clean"].tokens >= 20_000 and lock.materialized is None


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("version"), "version 1 \\(unversioned\\).*reads version 3"),
    (lambda d: d.update(version=99), "version 99"),
    (lambda d: d["components"]["clean"].pop("tokens"), "field components.clean.tokens is missing"),
    (lambda d: d["tokenizer"].pop("pad_id"), "field tokenizer.pad_id is missing"),
    (lambda d: d.update(surprise=1), "field surprise is not a lock field"),
    (lambda d: d["selection"].update(docs=1), "edited by hand"),
])
def test_bad_lock_is_one_line(tmp_path, lock_file, change, message):
    bad = tmp_path / "bad.lock.json"
    _rewrite(lock_file, bad, change)
    with pytest.raises(ToxmixError, match=message) as e:
        read_lock(bad)
    assert "\n" not in str(e.value)


def _record(tmp_path) -> RunRecord:
    return RunRecord(name="r", run_dir=str(tmp_path), manifest="m.yaml", lock_file="m.lock.json", lock_digest="d",
                     shards_digest="s", preset=get_preset("tiny"), seed=3, paths=[], label_mask_paths=None,
                     dtype="uint16", eos_id=50279, pad_id=1, vocab_size=50280, tokenizer="t")


def test_run_record_round_trip_and_refusals(tmp_path):
    run = _record(tmp_path)
    run.save()
    back = RunRecord.load(tmp_path)
    assert back == run and back.preset.d_model == 16 and back.preset.betas == (0.9, 0.95)
    _rewrite(tmp_path / "run.json", tmp_path / "run.json", lambda d: d["preset"].pop("n_heads"))
    with pytest.raises(ToxmixError, match="field preset.n_heads is missing"):
        RunRecord.load(tmp_path)
    _rewrite(tmp_path / "run.json", tmp_path / "run.json", lambda d: d.pop("version"))
    with pytest.raises(ToxmixError, match="run record of version 1 \\(unversioned\\)"):
        RunRecord.load(tmp_path)


def test_every_command_help_has_an_example(capsys):
    commands = ["ingest", "tag", "sql", "stats", "export", "toy", "train", "probe", "eval", "report", "demo",
                "manifest validate", "manifest resolve", "manifest materialize", "manifest sweep", "iti fit",
                "iti apply", "classifiers train-fasttext", "classifiers evaluate"]
    for command in commands:
        capsys.readouterr()
        assert run_cli(*command.split(), "--help") == 0, command
        assert "Example" in capsys.readouterr().out, command
