"""Per-head probes and ITI on a tiny toxmix model: export -> probe -> compare -> iti fit -> apply -> bake -> reload."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from conftest import run_cli
from sklearn.linear_model import LogisticRegression

from toxmix.core.errors import ToxmixError
from toxmix.core.models import load_model
from toxmix.probe.data import ProbeData, load_probe_data, split_mask, toxigen_offline
from toxmix.probe.iti import bake, load_iti, steer


def test_toxigen_offline_data_is_labelled_grouped_and_split_without_straddling():
    data = toxigen_offline()
    assert len(data) > 700 and 0.4 < sum(data.labels) / len(data) < 0.7
    assert {"asian", "lgbtq", "middle_east", "women"} <= set(data.groups)
    train = split_mask(data, seed=0)
    assert 0.7 < sum(train) / len(train) < 0.9 and split_mask(data, seed=0) == train
    by_group = split_mask(data, seed=0, by="group")
    for g in set(data.groups):
        assert len({m for m, gg in zip(by_group, data.groups, strict=True) if gg == g}) == 1


def test_probe_run_files_and_numbers_match_sklearn(tiny_model, probe_run):
    run = json.loads((probe_run / "probe.json").read_text())
    heads = pq.read_table(probe_run / "heads.parquet").to_pandas()
    assert len(heads) == 4 and run["model"]["n_heads"] == 2 and run["model"]["head_dim"] == 8
    assert (probe_run / "heatmap.png").stat().st_size > 1000
    # recompute one head's probe independently from the cached activations
    data = toxigen_offline()
    acts = np.load(probe_run / run["activations"])
    assert acts.shape == (len(data), 2, 2, 8)
    train = np.asarray(split_mask(data, 0))
    y = np.asarray(data.labels)
    x = acts[:, 1, 0].astype(np.float64)
    mean, std = x[train].mean(0), x[train].std(0) + 1e-8
    clf = LogisticRegression(solver="newton-cholesky", max_iter=200, random_state=0).fit((x[train] - mean) / std,
                                                                                          y[train])
    expected = clf.score((x[~train] - mean) / std, y[~train])
    got = heads[(heads.layer == 1) & (heads["head"] == 0)].val_accuracy.item()
    assert got == pytest.approx(expected, abs=1e-9)
    # the hooks capture exactly o_proj's input: its pieces times W_O rebuild o_proj's output
    lm = load_model(str(tiny_model))
    batch = lm.tokenizer(["a short text", "another, longer text to pad against"], return_tensors="pt",
                         padding=True)
    seen = {}
    handle = lm.o_projs[1].register_forward_hook(lambda m, a, o: seen.update(inp=a[0], out=o))
    with torch.no_grad():
        lm.model.model(**batch)
    handle.remove()
    w = lm.o_projs[1].weight
    rebuilt = sum(seen["inp"][..., h * 8:(h + 1) * 8] @ w[:, h * 8:(h + 1) * 8].T for h in range(2))
    torch.testing.assert_close(rebuilt, seen["out"], rtol=1e-5, atol=1e-6)


def test_rerun_reuses_cached_activations(tiny_model, probe_run):
    cache = next(probe_run.glob("activations-*.npy"))
    before = cache.stat().st_mtime_ns
    assert run_cli("probe", tiny_model, "--data", "toxigen", "--out", probe_run) == 0
    assert cache.stat().st_mtime_ns == before


def test_compare_runs(tiny_model, probe_run, tmp_path, capsys):
    other = tmp_path / "by-group"
    assert run_cli("probe", tiny_model, "--out", other, "--split-by", "group") == 0
    assert run_cli("probe", "compare", probe_run, other, "--out", tmp_path / "cmp") == 0
    text = capsys.readouterr().out
    assert "top-4 mean accuracy" in text and "Mann-Whitney" in text
    diff = (tmp_path / "cmp" / "differences.csv").read_text().splitlines()
    assert len(diff) == 2 and (tmp_path / "cmp" / "accuracy_distributions.png").is_file()


def test_iti_hooks_bake_reload_equal(tiny_model, probe_run, tmp_path):
    iti_file = tmp_path / "iti.safetensors"
    assert run_cli("iti", "fit", tiny_model, probe_run, "--heads", "2", "--out", iti_file) == 0
    lm = load_model(str(tiny_model))
    iti = load_iti(iti_file, lm.identity)
    assert len(iti.meta.heads) == 2 and np.allclose(np.linalg.norm(iti.theta, axis=1), 1, atol=1e-5)
    ids = lm.tokenizer(["Muslims are", "The weather today is"], return_tensors="pt", padding=True)
    with torch.no_grad():
        plain = lm.model(**ids).logits
        with steer(lm, iti, 8.0, "all"):
            hooked = lm.model(**ids).logits
        after = lm.model(**ids).logits
    assert not torch.allclose(plain, hooked)
    assert torch.equal(plain, after)  # removing the hooks restores the model bit for bit
    out = bake(lm, iti, 8.0, tmp_path / "baked")
    from transformers import AutoModelForCausalLM

    baked = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    assert all(layer.self_attn.o_proj.bias is not None for layer in baked.model.layers)
    gen = dict(max_new_tokens=12, do_sample=False, pad_token_id=lm.tokenizer.pad_token_id)
    with torch.no_grad():
        torch.testing.assert_close(baked(**ids).logits, hooked, rtol=0, atol=1e-5)
        with steer(lm, iti, 8.0, "all"):
            hooked_gen = lm.model.generate(**ids, **gen)
        assert torch.equal(baked.generate(**ids, **gen), hooked_gen)
    # the CLI's own export does the same
    assert run_cli("iti", "apply", tiny_model, iti_file, "--alpha", "8", "--export", tmp_path / "cli-baked") == 0
    assert (tmp_path / "cli-baked" / "toxmix_iti.json").is_file()


def test_generated_positions_shift_only_the_last_prompt_token(tiny_model, probe_run, tmp_path):
    iti_file = tmp_path / "iti.safetensors"
    assert run_cli("iti", "fit", tiny_model, probe_run, "--heads", "4", "--out", iti_file) == 0
    lm = load_model(str(tiny_model))
    iti = load_iti(iti_file, lm.identity)
    ids = lm.tokenizer(["one two three four five"], return_tensors="pt")
    with torch.no_grad():
        plain = lm.model(**ids).logits
        with steer(lm, iti, 8.0, "generated"):
            steered = lm.model(**ids).logits
    assert torch.equal(plain[:, :-1], steered[:, :-1]) and not torch.allclose(plain[:, -1], steered[:, -1])


def test_bad_input_is_one_line(tiny_model, probe_run, tmp_path, capsys):
    assert run_cli("iti", "fit", tiny_model, probe_run, "--heads", "99") == 2
    assert "--heads 99: the model has 4 heads" in capsys.readouterr().err
    one_class = tmp_path / "one.jsonl"
    one_class.write_text("".join(json.dumps({"text": f"text {i}", "label": 1}) + "\n" for i in range(40)))
    with pytest.raises(ToxmixError, match="0 clean examples"):
        load_probe_data(str(one_class), "label=1/0")
    from transformers import GPT2Config, GPT2LMHeadModel

    GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=100)).save_pretrained(tmp_path / "gpt2")
    (tmp_path / "gpt2" / "tokenizer.json").write_text((tiny_model / "tokenizer.json").read_text())
    (tmp_path / "gpt2" / "tokenizer_config.json").write_text((tiny_model / "tokenizer_config.json").read_text())
    assert run_cli("probe", tmp_path / "gpt2", "--out", tmp_path / "x") == 2
    assert "has no model.layers[*].self_attn.o_proj" in capsys.readouterr().err
    # an ITI file fitted on another model is refused
    other = tmp_path / "other"
    lm = load_model(str(tiny_model))
    lm.model.model.layers[0].mlp.down_proj.weight.data.add_(1.0)
    lm.model.save_pretrained(other)
    lm.tokenizer.save_pretrained(other)
    assert run_cli("iti", "fit", tiny_model, probe_run, "--heads", "2", "--out", tmp_path / "i.safetensors") == 0
    assert run_cli("iti", "apply", other, tmp_path / "i.safetensors") == 2
    assert "fit ITI on this model's probe run" in capsys.readouterr().err
    assert ProbeData(["a"], [1], ["g"], "s").digest != ProbeData(["a"], [0], ["g"], "s").digest
    # a hub id that is nowhere: one line, at once (the hub clients alone retry for ~25 s offline)
    import time

    start = time.monotonic()
    assert run_cli("probe", "toxmix-test/no-such-model", "--out", tmp_path / "y") == 2
    assert time.monotonic() - start < 15 and "cannot load model 'toxmix-test/no-such-model'" in capsys.readouterr().err
