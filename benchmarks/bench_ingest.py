"""Ingest throughput: `toxmix ingest` (read, count OLMo tokens, write, dedup) vs bare encode_batch.

Both use the same texts and the same tokenizer threads (RAYON_NUM_THREADS, default: all cores).
Peak memory is measured in a fresh process per corpus size to show it follows the batch, not the corpus.
Run: .venv/bin/python benchmarks/bench_ingest.py [--copies 10]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from common import c4_copies, peak_rss_mb, report, timer

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
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    c4_copies(work / "in", args.copies)
    texts = pq.read_table(work / "in" / "c4-000.parquet", columns=["text"])["text"].to_pylist()
    tok = load_tokenizer()
    tok.encode_batch(texts[:64])  # warm up the thread pool
    with timer() as t_bare:
        tokens = 0
        for i in range(0, len(texts), 1024):
            tokens += sum(len(e.ids) for e in tok.encode_batch(texts[i:i + 1024], add_special_tokens=False))
    with timer() as t_pipe:
        summary = ingest(IngestConfig("c4", [str(work / "in")], str(work / "corpus")), ExecutorConfig())
    assert summary.tokens == tokens, (summary.tokens, tokens)
    report("ingest_olmo_tokens", {
        "docs": len(texts), "tokens": tokens,
        "bare_encode_batch_tokens_per_s": round(tokens / t_bare["seconds"]),
        "pipeline_tokens_per_s": round(tokens / t_pipe["seconds"]),
        "ratio": round(t_bare["seconds"] / t_pipe["seconds"], 3),
        "peak_rss_mb_1x": round(_peak_memory(work, 1)),
        f"peak_rss_mb_{args.copies}x": round(_peak_memory(work, args.copies)),
    })


if __name__ == "__main__":
    main()
