"""Each scorer loads from local files and scores the same as its library called directly."""

import fasttext
import numpy as np
import pytest
import torch
from conftest import run_cli

from toxmix import Corpus
from toxmix.classifiers.spec import ScorerSpec, build_scorer
from toxmix.core.errors import ToxmixError

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "you", "are", "a", "nice", "terrible", "person", "the",
         "hello", "world", "idiot", "kind", "!"]
TEXTS = ["you are a nice person", "you are a terrible idiot !", "hello world"]


def _tiny_bert(folder, num_labels: int, **config_kwargs):
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"))
    config = BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=num_labels, **config_kwargs)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    tokenizer.save_pretrained(folder)
    config.save_pretrained(folder)
    return model, tokenizer


def test_fasttext_document_scores_match_bare_predict(fasttext_model):
    scorer = build_scorer(ScorerSpec.parse(f"fasttext:{fasttext_model}"))
    assert scorer.name == "fasttext_toxicity" and sorted(scorer.labels) == ["clean", "toxic"]
    texts = ["You are a disgusting idiot\nand everyone hates you", "The weather in spring is mild."]
    got = scorer.score(texts)
    bare = fasttext.load_model(str(fasttext_model))
    for row, text in zip(got, texts, strict=True):
        labels, probs = bare.predict(text.replace("\n", " "), k=-1)
        expect = dict(zip(labels, probs, strict=True))
        assert row[scorer.labels.index("toxic")] == pytest.approx(expect["__label__toxic"], abs=1e-6)
    assert got[0, scorer.labels.index("toxic")] > got[1, scorer.labels.index("toxic")]


def test_fasttext_sentence_level_takes_worst_sentence(fasttext_model):
    doc = build_scorer(ScorerSpec.parse(f"fasttext:{fasttext_model}"))
    sent = build_scorer(ScorerSpec.parse(f"fasttext:{fasttext_model},level=sentence,name=ft_sent"))
    text = "The garden was lovely today. You are a worthless stupid bitch. We had tea."
    parts = ["The garden was lovely today.", "You are a worthless stupid bitch.", "We had tea."]
    toxic = doc.labels.index("toxic")
    per_sentence = doc.score(parts)[:, toxic]
    assert sent.score([text])[0, sent.labels.index("toxic")] == pytest.approx(per_sentence.max(), abs=1e-6)


def test_detoxify_local_checkpoint_matches_model(tmp_path):
    classes = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    cfg_dir = tmp_path / "bert"
    model, tokenizer = _tiny_bert(cfg_dir, num_labels=len(classes))
    ckpt = tmp_path / "detox.ckpt"
    torch.save({"config": {"arch": {"args": {"model_type": "bert-base-uncased",
                                             "model_name": "BertForSequenceClassification",
                                             "tokenizer_name": "BertTokenizer", "num_classes": len(classes)}},
                           "dataset": {"args": {"classes": classes}}},
                "state_dict": model.state_dict()}, ckpt)
    scorer = build_scorer(ScorerSpec.parse(f"detoxify:original,checkpoint={ckpt},config={cfg_dir}"))
    assert scorer.labels == ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]
    with torch.no_grad():
        enc = tokenizer(TEXTS, return_tensors="pt", padding=True, truncation=True)
        expect = torch.sigmoid(model(**enc).logits).numpy()
    np.testing.assert_allclose(scorer.score(TEXTS), expect, atol=1e-5)


def test_detoxify_refuses_non_checkpoint(tmp_path):
    bad = tmp_path / "bad.ckpt"
    torch.save({"weights": torch.zeros(2)}, bad)
    with pytest.raises(ToxmixError, match="not a Detoxify checkpoint"):
        build_scorer(ScorerSpec.parse(f"detoxify:original,checkpoint={bad}"))


def test_hf_classifier_local_dir_matches_model(tmp_path):
    folder = tmp_path / "clf"
    model, tokenizer = _tiny_bert(folder, num_labels=2, id2label={0: "benign", 1: "toxic"},
                                  label2id={"benign": 0, "toxic": 1})
    model.save_pretrained(folder)
    scorer = build_scorer(ScorerSpec.parse(f"hf:{folder},name=toxigen_test,batch_size=2"))
    assert scorer.labels == ["benign", "toxic"]
    with torch.no_grad():
        enc = tokenizer(TEXTS, return_tensors="pt", padding=True, truncation=True)
        expect = torch.softmax(model(**enc).logits, dim=-1).numpy()
    np.testing.assert_allclose(scorer.score(TEXTS), expect, atol=1e-5)


def test_tag_with_two_scorers_writes_two_tables(tmp_path, fasttext_model):
    folder = tmp_path / "clf"
    model, _ = _tiny_bert(folder, num_labels=2, id2label={0: "benign", 1: "toxic"}, label2id={"benign": 0, "toxic": 1})
    model.save_pretrained(folder)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(f'{{"id": "{i}", "text": "{t}"}}\n' for i, t in enumerate(TEXTS)))
    corpus = tmp_path / "c"
    assert run_cli("ingest", "s", data, "--corpus", corpus) == 0
    assert run_cli("tag", "--corpus", corpus, "-s", f"fasttext:{fasttext_model}", "-s", f"hf:{folder},name=clf") == 0
    rows = Corpus(corpus).sql("SELECT id, fasttext_toxicity.toxic, clf.toxic FROM docs ORDER BY id").fetchall()
    assert len(rows) == 3 and all(0 <= a <= 1 and 0 <= b <= 1 for _, a, b in rows)


@pytest.mark.parametrize("spec,message", [
    ("nope:x", "expected KIND:MODEL"),
    ("fasttext:", "no model"),
    ("fasttext:/does/not/exist.bin", "no such file"),
    ("fasttext:m.bin,colour=red", "bad option"),
    ("hf:x,batch_size=big", "positive integer"),
    ("detoxify:bogus", "unknown Detoxify model"),
])
def test_bad_specs_are_clear(spec, message):
    with pytest.raises(ToxmixError, match=message):
        build_scorer(ScorerSpec.parse(spec))
