"""Materialize throughput: `toxmix manifest materialize` vs the exact tokenizer call it makes,
`Tokenizer.encode_batch_fast(texts, add_special_tokens=False)` in batches of 1,024 with each document's `ids` taken
out (a token file needs them), on the same texts.

The manifest selects every document of a 20,000-document C4 store (the shared sample x10); both sides use the
same tokenizer threads. Two harnesses, each alternating pairs (order flipped each pair), each materialize into a
fresh token folder, medians and ranges of the per-pair ratio, with the machine's load:
- in process: `materialize(...)` vs the bare loop over the texts already in memory, each side run once untimed
  first;
- whole processes: `python -m toxmix.app.cli manifest materialize` vs `bare_encode.py --ids` (a process that imports
  only pyarrow and tokenizers, loads the tokenizer, reads the store's Parquet shard and runs the same loop).
Then peak memory (VmHWM, both under `peak.py`), alternating, 3 each: materialize vs `bare_encode.py --write`, which
also writes the same uint16 token array with an EOS after each document (numpy loads for it). Target <= 1.3x.
Run: OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_materialize.py [--copies 10] [--pairs 7]
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from common import (
    BENCH_DIR,
    alternating,
    bare_encode_cmd,
    c4_copies,
    compile_sources,
    machine_load,
    report,
    run_quietly,
    toxmix_cmd,
    whole_processes,
    with_rates,
)

from toxmix import Corpus
from toxmix.core.tokenizer import ENCODE_BATCH, load_tokenizer
from toxmix.mixer.corpus.executors import ExecutorConfig
from toxmix.mixer.corpus.ingest import IngestConfig, ingest
from toxmix.mixer.manifest.materialize import materialize
from toxmix.mixer.manifest.resolve import resolve


def _peak(cmd: list[str]) -> float:
    done = subprocess.run([sys.executable, str(BENCH_DIR / "peak.py"), *cmd], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stderr.strip().splitlines()[-1])["peak_rss_mb"]


def peak_memory(manifest: Path, corpus: Path, shard: Path, bare_out: Path, eos: int, runs: int = 3) -> dict:
    """Peak resident memory of materialize and of the bare loop that writes the same token array, alternating."""
    bare_cmd = bare_encode_cmd(shard, ids=True)[1:] + ["--write", str(bare_out), "--eos", str(eos)]
    ours, bare = [], []
    for i in range(runs):
        for side in (("bare", "ours") if i % 2 == 0 else ("ours", "bare")):
            if side == "bare":
                bare.append(_peak(bare_cmd))
            else:
                shutil.rmtree(corpus / "tokens" / "all", ignore_errors=True)
                ours.append(_peak(["-m", "toxmix.app.cli", "manifest", "materialize", str(manifest)]))
    written = sum(p.stat().st_size for p in (corpus / "tokens" / "all").glob("*.npy") if ".mask" not in p.name)
    assert written == bare_out.stat().st_size, (written, bare_out.stat().st_size)  # the same tokens, in its order
    ratios = [o / b for o, b in zip(ours, bare, strict=True)]
    return {"materialize_mb": ours, "bare_write_mb": bare, "ratio_median": round(statistics.median(ratios), 3),
            "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args()
    compile_sources()
    work = Path(tempfile.mkdtemp(prefix="bench-mat-"))
    c4_copies(work / "in", args.copies)
    corpus = work / "corpus"
    summary = ingest(IngestConfig("c4", [str(work / "in")], str(corpus)), ExecutorConfig())
    manifest = work / "all.yaml"
    manifest.write_text(yaml.safe_dump({"name": "all", "corpus": str(corpus), "seed": 1, "components": [
        {"name": "web", "source": "c4", "tokens": summary.tokens + summary.stored}]}))
    lock = resolve(manifest).lock
    texts = [r[0] for r in Corpus(corpus).sql("SELECT text FROM documents").fetchall()]
    tok = load_tokenizer()
    tok.encode_batch_fast(texts[:64], add_special_tokens=False)
    counted = {}

    def bare() -> None:  # the call, and taking each document's ids out, as a token file needs them
        counted["tokens"] = sum(len(e.ids) for i in range(0, len(texts), ENCODE_BATCH)
                                for e in tok.encode_batch_fast(texts[i:i + ENCODE_BATCH], add_special_tokens=False))

    def ours() -> None:
        shutil.rmtree(corpus / "tokens" / "all", ignore_errors=True)
        counted["materialized"] = materialize(manifest, progress=False).materialized.tokens

    ours()  # warmed up once, untimed, as the bare side's tokenizer is: the in-process pairs measure throughput
    load = [machine_load()]
    in_process = alternating(args.pairs, bare, ours)
    assert counted["materialized"] == counted["tokens"] + len(texts), counted  # one EOS per document
    tokens = counted["tokens"]
    print("in process:", in_process, flush=True)

    def ours_process() -> None:
        shutil.rmtree(corpus / "tokens" / "all", ignore_errors=True)
        run_quietly(toxmix_cmd("manifest", "materialize", str(manifest)))

    shard = next((corpus / "documents" / "c4").glob("*.parquet"))
    processes, bare_tokens = whole_processes(args.pairs, bare_encode_cmd(shard, ids=True), ours_process)
    assert bare_tokens == tokens, (bare_tokens, tokens)
    memory = peak_memory(manifest, corpus, shard, work / "bare.npy", lock.tokenizer.eos_id)
    load.append(machine_load())
    figures = {"docs": len(texts), "tokens": tokens, "load_before_after": load,
               "in_process": with_rates(in_process, tokens, "materialize"),
               "whole_processes": with_rates(processes, tokens, "materialize"), "peak_rss_mb": memory}
    report("materialize_vs_encode_batch_fast", figures)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
