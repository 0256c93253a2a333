"""Every stage checks its own typed config: a bad config built from Python is refused with the very line the
command prints for the same options (the command only parses arguments into the config)."""

from pathlib import Path

import pytest
import yaml
from conftest import run_cli

from toxmix.core.errors import ToxmixError


def _command_error(capsys, *args) -> str:
    assert run_cli(*args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    return err.removeprefix("error: ")


def _api_error(build) -> str:
    with pytest.raises(ToxmixError) as e:
        build()
    return str(e.value)


def _same(capsys, args, build, expected: str) -> None:
    said = _command_error(capsys, *args)
    assert said == _api_error(build), said
    assert expected in said, said


def test_corpus_stage(tmp_path, capsys, shared):
    from toxmix import Corpus
    from toxmix.mixer.corpus.executors import ExecutorConfig
    from toxmix.mixer.corpus.ingest import IngestConfig

    c4 = str(shared / "data" / "c4" / "c4-validation-2k.parquet")
    _same(capsys, ["ingest", "9lives", c4, "-c", tmp_path / "c"],
          lambda: IngestConfig("9lives", [c4], str(tmp_path / "c")), "source name '9lives'")
    _same(capsys, ["ingest", "web", c4, "-c", tmp_path / "c", "--format", "xml"],
          lambda: IngestConfig("web", [c4], str(tmp_path / "c"), format="xml"), "unknown --format 'xml'")
    _same(capsys, ["ingest", "web", c4, "-c", tmp_path / "c", "--executor", "slurm"],
          lambda: ExecutorConfig(kind="slurm"), "--executor slurm needs --slurm-partition")
    assert run_cli("ingest", "web", c4, "-c", tmp_path / "c") == 0
    capsys.readouterr()
    _same(capsys, ["sql", "-c", tmp_path / "c", "DROP VIEW documents"],
          lambda: Corpus(tmp_path / "c").sql("DROP VIEW documents"), "read-only")


def test_manifest_stage(tmp_path, capsys):
    from toxmix.mixer.manifest.resolve import resolve

    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"name": "m", "corpus": str(tmp_path), "seed": 1, "components": [
        {"name": "a", "source": "c4", "tokens": 10}, {"name": "b", "source": "c4", "share": 0.1}]}))
    _same(capsys, ["manifest", "resolve", path], lambda: resolve(path), "mark the clean (reference) component")


def test_classifiers_stage(tmp_path, capsys):
    from toxmix.classifiers.train_fasttext import FastTextParams, training_sources

    out = tmp_path / "m.bin"
    _same(capsys, ["classifiers", "train-fasttext", "--exclude", "toxigen", "--out", out],
          lambda: training_sources(exclude=("toxigen",)), "--exclude goes with --recipe study")
    _same(capsys, ["classifiers", "train-fasttext", "--data", "a.csv", "--data", "b.csv", "--label-rule", "x=1/0",
                   "--label-rule", "y=1/0", "--label-rule", "z=1/0", "--out", out],
          lambda: training_sources(data=("a.csv", "b.csv"), label_rules=("x=1/0", "y=1/0", "z=1/0")),
          "2 --data but 3 --label-rule")
    _same(capsys, ["classifiers", "train-fasttext", "--recipe", "study", "--epoch", "0", "--out", out],
          lambda: FastTextParams(epoch=0), "--epoch must be at least 1")


def test_train_stage(tmp_path, capsys):
    from toxmix.train.jobs import SweepConfig, TrainConfig

    _same(capsys, ["train", "m.yaml", "--steps", "5", "--tokens", "5"],
          lambda: TrainConfig(manifest="m.yaml", steps=5, tokens=5), "give --steps or --tokens, not both")
    _same(capsys, ["train", "m.yaml", "--checkpoint-interval", "0"],
          lambda: TrainConfig(manifest="m.yaml", checkpoint_interval=0), "--checkpoint-interval 0")
    _same(capsys, ["train", "m.yaml", "--preset", "olmo7b"],
          lambda: TrainConfig(manifest="m.yaml", preset="olmo7b"), "unknown preset 'olmo7b'")
    _same(capsys, ["train", "sweep", tmp_path], lambda: SweepConfig(folder=tmp_path), "no manifests")
    _same(capsys, ["train", "m.yaml", "--slurm-time", "1 day"],
          lambda: TrainConfig(manifest="m.yaml", slurm_time="1 day"), "--slurm-time '1 day'")
    _same(capsys, ["train", "m.yaml", "--cpus-per-task", "4"],
          lambda: TrainConfig(manifest="m.yaml", cpus_per_task=4), "add --nnodes N")
    _same(capsys, ["train", "m.yaml", "--batch-sequences", "0"],
          lambda: TrainConfig(manifest="m.yaml", batch_sequences=0), "--batch-sequences 0")


def test_probe_stage(tmp_path, capsys):
    from toxmix.probe.iti import check_alpha
    from toxmix.probe.run import ProbeConfig
    from toxmix.probe.toy.experiment import ToyConfig

    _same(capsys, ["probe", "some/model", "--split-by", "user", "--out", tmp_path],
          lambda: ProbeConfig(model="some/model", out=tmp_path, split_by="user"), "--split-by 'user'")
    _same(capsys, ["probe", "some/model", "--data", "mine.csv", "--out", tmp_path],
          lambda: ProbeConfig(model="some/model", out=tmp_path, data="mine.csv"), "give --label-rule")
    _same(capsys, ["toy", "--shares", "0.1,1.5"], lambda: ToyConfig(shares=(0.1, 1.5)), "--shares must be")
    _same(capsys, ["iti", "apply", "some/model", "iti.safetensors", "--alpha", "nan"],
          lambda: check_alpha(float("nan")), "--alpha nan: the steering strength must be a finite number")


def test_eval_stage(tmp_path, capsys):
    from toxmix.eval.report import write_report
    from toxmix.eval.run import EvalConfig

    args = ["eval", "some/model", "--scorer", "fasttext:x.bin", "--out", tmp_path]
    _same(capsys, [*args, "--k", "0"],
          lambda: EvalConfig(model="some/model", scorer="fasttext:x.bin", out=tmp_path, sampling={"k": 0}), "--k 0")
    _same(capsys, [*args, "--top-p", "1.5"],
          lambda: EvalConfig(model="some/model", scorer="fasttext:x.bin", out=tmp_path, sampling={"top_p": 1.5}),
          "--top-p 1.5")
    _same(capsys, [*args, "--positions", "last"],
          lambda: EvalConfig(model="some/model", scorer="fasttext:x.bin", out=tmp_path, positions="last"),
          "--positions 'last'")
    _same(capsys, [*args, "--alpha", "4,inf"],
          lambda: EvalConfig(model="some/model", scorer="fasttext:x.bin", out=tmp_path, alphas=(4, float("inf"))),
          "--alpha inf")
    _same(capsys, [*args, "--toxigen", "0", "--rtp", "0", "--ce", "none"],
          lambda: EvalConfig(model="some/model", scorer="fasttext:x.bin", out=tmp_path, toxigen_n=0, rtp_n=0,
                             ce="none"), "leave nothing to measure")
    _same(capsys, ["eval", "some/model", "--out", tmp_path],
          lambda: EvalConfig(model="some/model", out=tmp_path), "--scorer is needed to score generations")
    _same(capsys, [*args, "--tasks", "chess"],
          lambda: EvalConfig(model="some/model", scorer="fasttext:x.bin", out=tmp_path, tasks=("chess",)),
          "unknown task 'chess'")
    _same(capsys, ["report", tmp_path, "--preface", tmp_path / "missing.md", "--out", tmp_path / "r"],
          lambda: write_report([tmp_path], tmp_path / "r", preface=Path(tmp_path / "missing.md")),
          "--preface")
