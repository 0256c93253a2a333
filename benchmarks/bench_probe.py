"""Probes and ITI: probe fitting time, activation collection vs a bare forward loop, and hook overhead.

1. Fitting: `probe.probes.fit_probes` on synthetic activations of Olmo-1B's shape (16 layers x 16 heads = 256
   heads, head_dim 128) for --examples texts (4:1 split), with a planted toxicity direction. Target <= 15 s.
2. Collection: `probe.activations.collect` (hooks on every o_proj, last-token capture) against a bare
   `model.model(input_ids, attention_mask)` loop over the same left-padded batches; alternating pairs, medians
   and ranges. Target >= 0.9x.
3. Hooks: batched greedy generation with ITI hooks on 30 heads against the same generation without hooks;
   alternating pairs, medians and ranges. Target <= 3 % overhead.

Run: .venv/bin/python benchmarks/bench_probe.py [--model DIR_OR_GGUF] (default: a random Llama-family model of
SmolLM2-135M's shape saved to a temporary folder, with the shared OLMo tokenizer)
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from common import report, scratch

from toxmix.core.models import load_model
from toxmix.core.settings import shared_path
from toxmix.probe.activations import collect, encode
from toxmix.probe.data import toxigen_offline
from toxmix.probe.iti import ITI, ITIMeta, steer
from toxmix.probe.probes import fit_probes


def synthetic_model(out: Path) -> Path:
    """A random LlamaForCausalLM of SmolLM2-135M's shape (30 layers, 9 heads of 64, d 576)."""
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=50304, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                      num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=2048,
                      tie_word_embeddings=True, eos_token_id=50279, pad_token_id=1)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok = PreTrainedTokenizerFast(tokenizer_file=str(shared_path("tokenizers", "gpt-neox-olmo-dolma-v1_5.json")),
                                  eos_token="<|endoftext|>", pad_token="<|padding|>")
    tok.save_pretrained(out)
    return out


def spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4), "max": round(max(values), 4)}


def bench_fit(n: int) -> dict:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, n)
    acts = rng.standard_normal((n, 16, 16, 128), dtype=np.float32)
    acts[..., 0] += labels[:, None, None] * rng.uniform(0, 1.5, (16, 16)).astype(np.float32)
    train = rng.random(n) < 0.8
    start = time.perf_counter()
    probes = fit_probes(acts, labels, train)
    seconds = time.perf_counter() - start
    return {"heads": 256, "examples": n, "head_dim": 128, "seconds": round(seconds, 2),
            "best_val_accuracy": round(float(probes.val_accuracy.max()), 3)}


@torch.inference_mode()
def bench_collect(lm, texts: list[str], batch: int, pairs: int) -> dict:
    order = np.argsort([len(t) for t in texts], kind="stable")
    batches = [encode(lm, [texts[i] for i in order[s:s + batch]], lm.max_length) for s in range(0, len(texts), batch)]

    def bare() -> float:
        start = time.perf_counter()
        for b in batches:
            lm.model.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
        return time.perf_counter() - start

    def ours() -> float:
        start = time.perf_counter()
        collect(lm, texts, batch)
        return time.perf_counter() - start

    bare(), ours()  # warm up
    t_bare, t_ours = [], []
    for _ in range(pairs):
        t_bare.append(bare())
        t_ours.append(ours())
    ratios = [b / o for b, o in zip(t_bare, t_ours, strict=True)]
    return {"texts": len(texts), "batch": batch, "bare_texts_per_s": round(len(texts) / statistics.median(t_bare), 1),
            "collect_texts_per_s": round(len(texts) / statistics.median(t_ours), 1), "ratio": spread(ratios)}


@torch.inference_mode()
def bench_hooks(lm, prompts: list[str], pairs: int, new_tokens: int) -> dict:
    ident = lm.identity
    rng = np.random.default_rng(0)
    heads = [(int(i) // ident.n_heads, int(i) % ident.n_heads)
             for i in rng.choice(ident.n_layers * ident.n_heads, 30, replace=False)]
    theta = rng.standard_normal((30, ident.head_dim)).astype(np.float32)
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)
    iti = ITI(ITIMeta(toxmix_version="bench", model=ident, heads=heads, probe_run="bench", probe_dir="",
                      selection="random"), theta, np.ones(30, dtype=np.float32))
    batch = lm.tokenizer(prompts, return_tensors="pt", padding=True)
    gen = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
               pad_token_id=lm.tokenizer.pad_token_id)

    def plain() -> float:
        start = time.perf_counter()
        lm.model.generate(**batch, **gen)
        return time.perf_counter() - start

    def hooked() -> float:
        start = time.perf_counter()
        with steer(lm, iti, 8.0, "all"):
            lm.model.generate(**batch, **gen)
        return time.perf_counter() - start

    plain(), hooked()
    t_plain, t_hooked = [], []
    for _ in range(pairs):
        t_plain.append(plain())
        t_hooked.append(hooked())
    overhead = [h / p - 1 for p, h in zip(t_plain, t_hooked, strict=True)]
    return {"batch": len(prompts), "new_tokens": new_tokens, "plain_s": round(statistics.median(t_plain), 3),
            "hooked_s": round(statistics.median(t_hooked), 3), "overhead": spread(overhead)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None)
    parser.add_argument("--examples", type=int, default=9000)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    report("probe_fit_256_heads", bench_fit(args.examples))
    torch.set_num_threads(args.threads)
    model = args.model or str(synthetic_model(scratch("bench-probe-") / "model"))
    lm = load_model(model)
    texts = toxigen_offline().texts[:256]
    report("probe_collect_vs_bare_forward", {"model": Path(model).name, **bench_collect(lm, texts, 32, args.pairs)})
    torch.set_num_threads(1)  # generation of small models: one thread is several times faster here
    report("iti_hook_overhead_generate", {"model": Path(model).name, "threads": 1,
                                          **bench_hooks(lm, texts[:16], args.pairs, 20)})


if __name__ == "__main__":
    main()
