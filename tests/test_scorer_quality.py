"""Scorer quality: `classifiers evaluate` against scikit-learn, recipes that leave a dataset out, transfer."""

import json

import fasttext
import numpy as np
import pytest
from conftest import run_cli
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from toxmix.classifiers.fasttext_scorer import fasttext_line
from toxmix.classifiers.train_fasttext import FastTextParams, study_recipe
from toxmix.classifiers.transfer import transfer_report
from toxmix.core.errors import ToxmixError


def test_evaluate_matches_sklearn_overall_and_per_group(tmp_path, shared, fasttext_model, capsys):
    import gzip

    rows = []
    for name in ("offensive", "clean"):
        with gzip.open(shared / "data" / "fortunes" / f"{name}.jsonl.gz", "rt") as f:
            rows += [json.loads(ln) for _, ln in zip(range(300), f, strict=False)]
    data = tmp_path / "fortunes.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "eval"
    assert run_cli("classifiers", "evaluate", fasttext_model, "--data", data, "--label-rule",
                   "offensive=True/False", "--group-field", "category", "--threshold", "0.3", "--out", out) == 0
    printed = capsys.readouterr().out
    assert "ROC AUC" in printed and "per category" in printed
    result = json.loads((out / "evaluation.json").read_text())
    model = fasttext.load_model(str(fasttext_model))
    texts = list(dict.fromkeys(r["text"] for r in rows))
    first = {r["text"]: r for r in reversed(rows)}
    y = np.array([first[t]["offensive"] for t in texts])
    labels, probs = model.predict([fasttext_line(t) for t in texts], k=-1)
    p = np.array([dict(zip(lab, pr, strict=True))["__label__toxic"] for lab, pr in zip(labels, probs, strict=True)])
    overall = result["overall"]
    assert overall["examples"] == len(texts) and overall["toxic"] == int(y.sum())
    assert overall["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-6)
    assert overall["precision"] == pytest.approx(precision_score(y, p >= 0.3), abs=1e-9)
    assert overall["recall"] == pytest.approx(recall_score(y, p >= 0.3), abs=1e-9)
    assert overall["f1"] == pytest.approx(f1_score(y, p >= 0.3), abs=1e-9)
    cats = np.array([first[t]["category"] for t in texts])
    for cat, q in result["per_group"].items():
        inside = cats == cat
        assert q["examples"] == int(inside.sum())
        assert q["f1"] == pytest.approx(f1_score(y[inside], p[inside] >= 0.3, zero_division=0), abs=1e-9)
    assert (out / "evaluation.png").stat().st_size > 1000


def test_recipe_leaves_a_dataset_out_by_name():
    assert [s.name for s in study_recipe(("toxigen",))] == ["davidson", "stormfront"]
    with pytest.raises(ToxmixError, match="--exclude 'reddit': the study recipe's datasets are"):
        study_recipe(("reddit",))


def test_transfer_trains_without_each_dataset(tmp_path, fasttext_model):
    sources = study_recipe(("davidson",))
    rows = transfer_report(sources, FastTextParams(bucket=20_000), model=fasttext_model)
    assert [(r.test_set, r.trained_on) for r in rows] == [
        ("stormfront", ("toxigen",)), ("toxigen", ("stormfront",)),
        ("fortunes", ("stormfront", "toxigen"))]
    assert all(0 <= r.quality.roc_auc <= 1 for r in rows) and rows[-1].quality.examples > 20_000


def test_train_fasttext_cli_reports_transfer(tmp_path, capsys):
    model = tmp_path / "no-toxigen.bin"
    assert run_cli("classifiers", "train-fasttext", "--recipe", "study", "--exclude", "toxigen", "--bucket",
                   "20000", "--out", model) == 0
    printed = capsys.readouterr().out
    assert "in domain (held-out split)" in printed and "fortunes" in printed and "stormfront" in printed
    report = json.loads(model.with_name(model.name + ".report.json").read_text())
    assert report["datasets"] == ["davidson", "stormfront"]
    assert run_cli("classifiers", "train-fasttext", "--data", "x.csv", "--label-rule", "a=1/0", "--exclude",
                   "toxigen", "--out", model) == 2


def test_a_model_retrained_to_the_same_path_is_not_served_from_the_cache(tmp_path):
    from toxmix.classifiers.spec import ScorerSpec, build_scorer
    from toxmix.classifiers.train_fasttext import train_fasttext

    model = tmp_path / "m.bin"
    train_fasttext(study_recipe(("davidson", "stormfront")), str(model), FastTextParams(bucket=5_000, epoch=1))
    first = build_scorer(ScorerSpec.parse(f"fasttext:{model}"))
    train_fasttext(study_recipe(("toxigen",)), str(model), FastTextParams(bucket=5_000, epoch=3))
    again = build_scorer(ScorerSpec.parse(f"fasttext:{model}"))
    assert again is not first and again.version != first.version
