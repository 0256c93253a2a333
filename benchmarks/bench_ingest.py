"""Ingest throughput: `toxmix ingest` (read, count OLMo tokens, stage, dedup, publish) vs the exact tokenizer call
it makes, `Tokenizer.encode_batch_fast(texts, add_special_tokens=False)` in batches of 1,024, token counts summed.

Alternating pairs in one process (the order flips each pair), each ingest into a fresh corpus; the median and
range of the per-pair ratio are reported, with the machine's load. Peak memory is measured in a fresh process per
corpus size to show it follows the batch, not the corpus.
Run: .venv/bin/python benchmarks/bench_ingest.py [--copies 10] [--pairs 5]
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from common import alternating, c4_copies, machine_load, peak_rss_mb, report

from mixer.corpus.executors import ExecutorConfig
from mixer.corpus.ingest import IngestConfig, ingest
from toxmix.core.tokenizer import load_tokenizer


def _child(inputs: str, corpus: str) -> None:
    ingest(IngestConfig("c4", [inputs], corpus), ExecutorConfig())
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}))


def _peak_memory(work: Path, copies: int) -> float:
    inputs = work / f"mem-in-{copies}"
    c4_copies(inputs, copies)
    cmd = [sys.executable, __file__, "--child", str(inputs), str(work / f"mem-corpus-{copies}")]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(out)["peak_rss_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--child", nargs=2)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    c4_copies(work / "in", args.copies)
    texts = pq.read_table(work / "in" / "c4-000.parquet", columns=["text"])["text"].to_pylist()
    tok = load_tokenizer()
    tok.encode_batch_fast(texts[:64], add_special_tokens=False)  # warm up the thread pool
    counted = {}

    def bare() -> None:
        counted["tokens"] = sum(len(e) for i in range(0, len(texts), 1024)
                                for e in tok.encode_batch_fast(texts[i:i + 1024], add_special_tokens=False))

    def ours() -> None:
        shutil.rmtree(work / "corpus", ignore_errors=True)
        counted["ingested"] = ingest(IngestConfig("c4", [str(work / "in")], str(work / "corpus")),
                                     ExecutorConfig()).tokens

    load_before = machine_load()
    figures = alternating(args.pairs, bare, ours)
    assert counted["ingested"] == counted["tokens"], counted
    tokens = counted["tokens"]
    figures.update({
        "docs": len(texts), "tokens": tokens, "load_before": load_before, "load_after": machine_load(),
        "bare_tokens_per_s": round(tokens / figures["bare_s_median"]),
        "ingest_tokens_per_s": round(tokens / figures["ours_s_median"]),
    })
    if not args.no_memory:
        figures["peak_rss_mb_1x"] = round(_peak_memory(work, 1))
        figures[f"peak_rss_mb_{args.copies}x"] = round(_peak_memory(work, args.copies))
    report("ingest_vs_encode_batch_fast", figures)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
