"""The README's walkthrough, as a new user runs it: ingest, train the scorer, tag, one SQL query."""

import json

from conftest import run_cli


def test_readme_walkthrough(tmp_path, shared, capsys):
    corpus, model = tmp_path / "corpus", tmp_path / "models" / "toxicity.bin"
    assert run_cli("ingest", "c4", shared / "data/c4/c4-validation-2k.parquet", "--corpus", corpus) == 0
    assert run_cli("ingest", "stormfront", shared / "data/stormfront/stormfront.jsonl.gz", "--corpus", corpus,
                   "--keep-field", "label") == 0
    assert run_cli("classifiers", "train-fasttext", "--recipe", "study", "--bucket", "100000", "--out", model) == 0
    trained = capsys.readouterr().out
    assert "ROC AUC" in trained
    assert run_cli("tag", "--corpus", corpus, "--scorer", f"fasttext:{model}") == 0
    capsys.readouterr()
    query = ("SELECT source, sum(n_tokens) AS toxic_tokens FROM docs WHERE fasttext_toxicity.toxic > 0.5 "
             "GROUP BY source ORDER BY source")
    assert run_cli("sql", query, "--corpus", corpus, "--format", "csv") == 0
    rows = dict(line.replace('"', "").split(",") for line in capsys.readouterr().out.splitlines()[1:])
    # Stormfront holds far more toxic tokens than C4 although C4 has four times the tokens
    assert int(rows["stormfront"]) > 10_000
    assert int(rows.get("c4", 0)) < int(rows["stormfront"]) / 5


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
