"""Evaluation throughput: batched generation, multiple-choice scoring, and every scorer's texts/s.

1. Generation: `eval.generate.generate` (the pipeline's call) on 32 RTP prompts, 20 new tokens, K = 1, with
   batch_size 32 against batch_size 1 (one prompt at a time), and against transformers' `generate()` with the
   same protocol and batches (what toxmix's sampling loop replaces); alternating, medians and ranges of the
   tokens/s ratios. One thread (the eval default). Target >= 5x over one at a time.
   With K samples per prompt (the study's protocol draws 25): 8 prompts x K = 25 rows in one batch against
   `generate(num_return_sequences=25)` on the same batch (part `samples`).
2. Multiple choice: `eval.capability.continuation_logprobs` (LM head on continuation positions only) on PIQA
   and ARC-Easy requests (40 items each) against (a) a naive loop, one request at a time through
   `model(ids).logits` and a full log-softmax, and (b) the same batches through full logits; alternating, medians
   and ranges. Target >= 3x over (a). The gain is bounded by the share of positions that are continuation
   (reported): PIQA's long answers make it small.
3. Scorers: texts/s of `eval.scoring.ToxicityScorer.score` on 2,000 RTP-length texts for fastText, a Hugging
   Face sequence classifier (random weights of DistilRoBERTa's shape: compute, not quality), and the Perspective
   client against a local server (client overhead only; the real API is bounded by its quota, 1 QPS by default).
   Detoxify is measured when installed (pip install -e '.[detoxify]').

Run: .venv/bin/python benchmarks/bench_eval.py [--model DIR] (default: a random OLMo of the 'tiny' preset's shape
and one of SmolLM2-135M's shape, with the shared OLMo tokenizer)
"""

import argparse
import os
import statistics
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import torch
from common import compile_sources, report, scratch

from toxmix.core.errors import ToxmixError
from toxmix.core.models import load_model
from toxmix.core.settings import shared_path
from toxmix.eval.capability import continuation_logprobs
from toxmix.eval.generate import Condition, generate
from toxmix.eval.prompts import rtp_prompts
from toxmix.eval.result import Sampling
from toxmix.eval.tasks import load_items


def spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def random_model(out: Path, kind: str) -> Path:
    """A random causal LM with the shared OLMo tokenizer: 'tiny' (toxmix's tiny preset) or 'smollm2' (135M)."""
    from transformers import LlamaConfig, LlamaForCausalLM, OlmoConfig, OlmoForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    if kind == "tiny":
        model = OlmoForCausalLM(OlmoConfig(vocab_size=50304, hidden_size=128, intermediate_size=512,
                                           num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=512,
                                           eos_token_id=50279, pad_token_id=1, bos_token_id=None,
                                           tie_word_embeddings=True))
    else:
        model = LlamaForCausalLM(LlamaConfig(vocab_size=50304, hidden_size=576, intermediate_size=1536,
                                             num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                                             max_position_embeddings=2048, tie_word_embeddings=True,
                                             eos_token_id=50279, pad_token_id=1))
    model.save_pretrained(out)
    tok = PreTrainedTokenizerFast(tokenizer_file=str(shared_path("tokenizers", "gpt-neox-olmo-dolma-v1_5.json")),
                                  eos_token="<|endoftext|>", pad_token="<|padding|>")
    tok.save_pretrained(out)
    return out


def bench_generate(lm, pairs: int) -> dict:
    prompts = rtp_prompts("rtp-sample", 32, seed=0)
    seeds = iter(range(10_000))  # a new seed per call: a new cache key, so nothing is read from the cache

    def run(batch: int) -> float:
        s = Sampling(k=1, batch_size=batch, seed=next(seeds))
        start = time.perf_counter()
        table, cached = generate(lm, prompts, s, Condition(method="base"))
        assert not cached
        return sum(table["n_tokens"].to_pylist()) / (time.perf_counter() - start)

    def hf(batch: int = 32) -> float:
        """transformers' generate() with the same protocol on the same batches (what the loop replaced)."""
        tokens, start = 0, time.perf_counter()
        items = [p.text for p in prompts.prompts]
        for s in range(0, len(items), batch):
            enc = lm.tokenizer(items[s:s + batch], return_tensors="pt", padding=True)
            with torch.inference_mode():
                out = lm.model.generate(**enc, do_sample=True, top_p=0.9, top_k=0, max_new_tokens=20,
                                        pad_token_id=lm.tokenizer.pad_token_id)
            new = out[:, enc["input_ids"].shape[1]:]
            tokens += int((new != lm.tokenizer.pad_token_id).sum())
        return tokens / (time.perf_counter() - start)

    run(32), run(1), hf()
    batched, single, library = [], [], []
    sides = [(batched, lambda: run(32)), (single, lambda: run(1)), (library, hf)]
    for i in range(pairs):  # the order rotates each round, so a busy spell slows every side alike
        for into, side in sides[i % 3:] + sides[:i % 3]:
            into.append(side())
    return {"prompts": 32, "new_tokens": 20, "batched_tokens_per_s": round(statistics.median(batched), 1),
            "one_at_a_time_tokens_per_s": round(statistics.median(single), 1),
            "hf_generate_batched_tokens_per_s": round(statistics.median(library), 1),
            "ratio_vs_one_at_a_time": spread([b / s for b, s in zip(batched, single, strict=True)]),
            "ratio_vs_hf_generate": spread([b / h for b, h in zip(batched, library, strict=True)])}


def bench_samples(lm, pairs: int, k: int = 25) -> dict:
    prompts = rtp_prompts("rtp-sample", 8, seed=0)
    seeds = iter(range(10_000, 20_000))

    def ours() -> float:
        s = Sampling(k=k, batch_size=len(prompts), seed=next(seeds))
        start = time.perf_counter()
        table, cached = generate(lm, prompts, s, Condition(method="base"))
        assert not cached
        return sum(table["n_tokens"].to_pylist()) / (time.perf_counter() - start)

    def hf() -> float:
        start = time.perf_counter()
        enc = lm.tokenizer([p.text for p in prompts.prompts], return_tensors="pt", padding=True)
        with torch.inference_mode():
            out = lm.model.generate(**enc, do_sample=True, top_p=0.9, top_k=0, max_new_tokens=20,
                                    num_return_sequences=k, pad_token_id=lm.tokenizer.pad_token_id)
        tokens = int((out[:, enc["input_ids"].shape[1]:] != lm.tokenizer.pad_token_id).sum())
        return tokens / (time.perf_counter() - start)

    mine, library = [], []
    for i in range(pairs):
        for into, side in [(mine, ours), (library, hf)][::1 if i % 2 == 0 else -1]:
            into.append(side())
    return {"prompts": len(prompts), "k": k, "new_tokens": 20, "tokens_per_s": round(statistics.median(mine), 1),
            "hf_generate_tokens_per_s": round(statistics.median(library), 1),
            "ratio_vs_hf_generate": spread([m / h for m, h in zip(mine, library, strict=True)])}


@torch.inference_mode()
def bench_mc(lm, pairs: int, n: int, task: str) -> dict:
    tok = lm.tokenizer
    requests = [(tok(ctx, add_special_tokens=False)["input_ids"], tok(c, add_special_tokens=False)["input_ids"])
                for ctxs, conts, _ in load_items(task, n) for ctx in ctxs for c in conts]

    def ours() -> float:
        start = time.perf_counter()
        continuation_logprobs(lm, requests, batch_size=16)
        return time.perf_counter() - start

    def naive() -> float:
        start = time.perf_counter()
        for ctx, cont in requests:
            ids = torch.tensor([(ctx + cont)[:-1]])
            logp = torch.log_softmax(lm.model(ids).logits[0].float(), -1)
            logp[len(ctx) - 1 + torch.arange(len(cont)), torch.tensor(cont)].sum()
        return time.perf_counter() - start

    def full_batched() -> float:
        from toxmix.eval.capability import _right_padded

        start = time.perf_counter()
        order = sorted(range(len(requests)), key=lambda i: -(len(requests[i][0]) + len(requests[i][1])))
        for s in range(0, len(order), 16):
            batch = [requests[i] for i in order[s:s + 16]]
            ids, mask = _right_padded([(c + k)[:-1] for c, k in batch], tok.pad_token_id)
            torch.log_softmax(lm.model(input_ids=ids, attention_mask=mask).logits.float(), -1)
        return time.perf_counter() - start

    ours(), naive(), full_batched()
    t_ours, t_naive, t_full = [], [], []
    for _ in range(pairs):
        t_ours.append(ours())
        t_naive.append(naive())
        t_full.append(full_batched())
    share = sum(len(c) for _, c in requests) / sum(len(x) + len(c) - 1 for x, c in requests)
    return {"task": task, "requests": len(requests), "continuation_share_of_positions": round(share, 3),
            "ours_requests_per_s": round(len(requests) / statistics.median(t_ours), 1),
            "vs_naive_loop": spread([b / o for b, o in zip(t_naive, t_ours, strict=True)]),
            "vs_batched_full_logits": spread([b / o for b, o in zip(t_full, t_ours, strict=True)])}


def bench_scorers(work: Path, fasttext_model: str | None) -> dict:
    from toxmix.eval.scoring import build_toxicity_scorer

    texts = [p.text for p in rtp_prompts("rtp-sample").prompts] * 3
    texts = texts[:2000]
    out = {}
    specs = {}
    if fasttext_model:
        specs["fasttext"] = f"fasttext:{fasttext_model}"
    specs["hf (random DistilRoBERTa shape)"] = f"hf:{random_classifier(work / 'clf')},batch_size=32,max_length=64"
    try:
        import detoxify  # noqa: F401

        specs["detoxify"] = "detoxify:original"
    except ImportError:
        out["detoxify"] = "not installed"
    for name, spec in specs.items():
        try:
            scorer = build_toxicity_scorer(spec, label="toxic" if name.startswith("hf") else None)
        except ToxmixError as e:  # e.g. Detoxify installed but its weights not downloadable offline
            out[name] = f"unavailable: {e}"
            continue
        n = len(texts) if name == "fasttext" else 256
        scorer.score(texts[:32])
        start = time.perf_counter()
        scorer.score(texts[:n])
        out[name] = {"texts": n, "texts_per_s": round(n / (time.perf_counter() - start), 1)}
    out["perspective (local server, qps 1000)"] = bench_perspective(texts[:300])
    return out


def random_classifier(out: Path) -> Path:
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForSequenceClassification

    torch.manual_seed(0)
    cfg = RobertaConfig(vocab_size=50304, hidden_size=768, num_hidden_layers=6, num_attention_heads=12,
                        intermediate_size=3072, max_position_embeddings=514, pad_token_id=1,
                        id2label={0: "clean", 1: "toxic"}, label2id={"clean": 0, "toxic": 1})
    RobertaForSequenceClassification(cfg).save_pretrained(out)
    PreTrainedTokenizerFast(tokenizer_file=str(shared_path("tokenizers", "gpt-neox-olmo-dolma-v1_5.json")),
                            pad_token="<|padding|>").save_pretrained(out)
    return out


def bench_perspective(texts: list[str]) -> dict:
    import json
    from http.server import BaseHTTPRequestHandler

    from toxmix.eval.perspective import PerspectiveClient

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(json.dumps({"attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.5}}}}).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = PerspectiveClient(f"http://127.0.0.1:{server.server_address[1]}/", api_key="bench", qps=1000)
    start = time.perf_counter()
    client.score(texts)
    seconds = time.perf_counter() - start
    server.shutdown()
    return {"texts": len(texts), "texts_per_s": round(len(texts) / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", action="append", default=None, help="model folders (default: two random ones)")
    parser.add_argument("--fasttext", default=None, help="a fastText toxicity model for the scorer figure")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--tasks", default="piqa,arc_easy", help="multiple-choice tasks to time")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: generate, samples, mc, scorers")
    parser.add_argument("--samples-pairs", type=int, default=3, help="pairs for the K = 25 part")
    args = parser.parse_args()
    compile_sources()
    work = scratch("bench-eval-")
    os.environ["TOXMIX_CACHE"] = str(work / "cache")
    models = args.model or [str(random_model(work / "tiny", "tiny")), str(random_model(work / "smollm2", "smollm2"))]
    for model in models:
        lm = load_model(model)
        torch.set_num_threads(1)
        if "generate" not in args.skip:
            report("eval_generate_batched_vs_one_at_a_time", {"model": Path(model).name, "threads": 1,
                                                              **bench_generate(lm, args.pairs)})
        if "samples" not in args.skip:
            report("eval_generate_k_samples_vs_hf_generate", {"model": Path(model).name, "threads": 1,
                                                              **bench_samples(lm, args.samples_pairs)})
        torch.set_num_threads(2)
        for task in args.tasks.split(",") if "mc" not in args.skip else []:
            report("eval_mc_continuation_logprobs", {"model": Path(model).name, "threads": 2,
                                                     **bench_mc(lm, args.pairs, 40, task)})
    torch.set_num_threads(2)
    if "scorers" not in args.skip:
        report("eval_scorer_throughput", bench_scorers(work, args.fasttext))


if __name__ == "__main__":
    main()
