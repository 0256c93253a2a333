"""Ingest throughput: `toxmix ingest` (read, count OLMo tokens, stage, dedup, publish) vs the exact tokenizer call
it makes, `Tokenizer.encode_batch_fast(texts, add_special_tokens=False)` in batches of 1,024, token counts summed.

Two harnesses, each alternating pairs (the order flips each pair), medians and ranges of the per-pair ratio, with
the machine's load:
- in process: `ingest(...)` into a fresh corpus vs the bare loop over the texts already in memory, each side run
  once untimed first;
- whole processes: `python -m toxmix.app.cli ingest` vs `bare_encode.py` (a process that imports only pyarrow and
  tokenizers, loads the tokenizer, reads the Parquet file and runs the same loop), so start-up counts on both sides.
Peak memory is measured in a fresh process per corpus size to show it follows the batch, not the corpus.
Run: OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_ingest.py [--copies 10] [--pairs 7]
"""

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from common import (
    alternating,
    bare_encode_cmd,
    c4_copies,
    compile_sources,
    machine_load,
    peak_rss_mb,
    report,
    run_quietly,
    toxmix_cmd,
    whole_processes,
    with_rates,
)

from toxmix.core.tokenizer import ENCODE_BATCH, load_tokenizer
from toxmix.mixer.corpus.executors import ExecutorConfig
from toxmix.mixer.corpus.ingest import IngestConfig, ingest


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
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--child", nargs=2)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    args = parser.parse_args()
    compile_sources()
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
        counted["tokens"] = sum(len(e) for i in range(0, len(texts), ENCODE_BATCH)
                                for e in tok.encode_batch_fast(texts[i:i + ENCODE_BATCH], add_special_tokens=False))

    def ours() -> None:
        shutil.rmtree(work / "corpus", ignore_errors=True)
        counted["ingested"] = ingest(IngestConfig("c4", [str(work / "in")], str(work / "corpus")),
                                     ExecutorConfig()).tokens

    ours()  # warmed up once, untimed, as the bare side's tokenizer is: the in-process pairs measure throughput
    load = [machine_load()]
    in_process = alternating(args.pairs, bare, ours)
    assert counted["ingested"] == counted["tokens"], counted
    tokens = counted["tokens"]
    print("in process:", in_process, flush=True)

    runs = itertools.count()

    def ours_process() -> None:  # a fresh corpus each time; all are removed at the end
        run_quietly(toxmix_cmd("ingest", "c4", str(work / "in"), "--corpus", str(work / f"corpus-{next(runs)}")))

    processes, bare_tokens = whole_processes(args.pairs, bare_encode_cmd(work / "in" / "c4-000.parquet", ids=False),
                                             ours_process)
    assert bare_tokens == tokens, (bare_tokens, tokens)
    load.append(machine_load())
    figures = {"docs": len(texts), "tokens": tokens, "load_before_after": load,
               "in_process": with_rates(in_process, tokens, "ingest"),
               "whole_processes": with_rates(processes, tokens, "ingest")}
    if not args.no_memory:
        for copies in sorted({1, args.copies}):
            figures[f"peak_rss_mb_{copies}x"] = round(_peak_memory(work, copies))
    report("ingest_vs_encode_batch_fast", figures)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
