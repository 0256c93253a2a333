"""Tagging throughput: `toxmix tag` (read shards, score, write attributes) vs the exact fastText call it makes,
`model.predict(lines, k=len(labels))` over the same batches of Dolma-style lines (newlines as spaces).

Uses a Dolma-shaped fastText model (word bigrams, 2M buckets x dim 100, ~830 MB) trained on the shared labelled
data. Two harnesses, each alternating pairs (order flipped each pair), medians and ranges of the per-pair ratio:
- in process: the model loaded once on each side; `tag(..., retag=True)` rewrites the attribute tables;
- whole processes: `python -m toxmix.app.cli tag --retag` vs a Python process that loads the model and runs the
  bare loop, so start-up and model loading count on both sides (the bare process imports only fastText, pyarrow
  and the line preprocessing the pipeline uses, not toxmix's stages).
Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_tag.py [--copies 30] [--pairs 5]
"""

import argparse
import subprocess
import sys

import fasttext
import pyarrow.parquet as pq
from common import (
    BENCH_DIR,
    alternating,
    c4_copies,
    compile_sources,
    machine_load,
    report,
    run_quietly,
    scratch,
    timer,
    toxmix_cmd,
)

from toxmix.classifiers.fasttext_scorer import fasttext_line

BATCH = 4096  # the tag pipeline's reader batch


def bare_loop(model, texts: list[str]) -> None:
    """What the pipeline asks of fastText, and nothing else."""
    k = len(model.get_labels())
    for i in range(0, len(texts), BATCH):
        model.predict([fasttext_line(t) for t in texts[i:i + BATCH]], k=k)


def _bare_process(model_path: str, shard: str) -> None:
    model = fasttext.load_model(model_path)
    bare_loop(model, pq.read_table(shard, columns=["text"])["text"].to_pylist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=30, help="copies of the 2,000 C4 docs")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--bucket", type=int, default=2_000_000)
    parser.add_argument("--bare-process", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_process:
        _bare_process(*args.bare_process)
        return
    compile_sources()
    # imported here, not at the top: the bare process loads only what its loop needs (fastText, pyarrow)
    from toxmix.classifiers.train_fasttext import FastTextParams, study_recipe, train_fasttext
    from toxmix.mixer.corpus.executors import ExecutorConfig
    from toxmix.mixer.corpus.ingest import IngestConfig, ingest
    from toxmix.mixer.corpus.tag import tag

    work = scratch("bench-tag-")
    model_path = work / "toxicity.bin"
    with timer() as t_train:
        train_fasttext(study_recipe(), str(model_path), FastTextParams(bucket=args.bucket, word_ngrams=2))
    c4_copies(work / "in", args.copies)
    corpus = work / "corpus"
    ingest(IngestConfig("c4", [str(work / "in")], str(corpus)), ExecutorConfig())
    shard = next((corpus / "documents" / "c4").glob("*.parquet"))
    texts = pq.read_table(shard, columns=["text"])["text"].to_pylist()
    spec = f"fasttext:{model_path}"
    bare_model = fasttext.load_model(str(model_path))
    tag(str(corpus), [spec], None, ExecutorConfig(workers=1))  # loads the pipeline's model once, hashes it

    load = [machine_load()]
    in_process = alternating(args.pairs, lambda: bare_loop(bare_model, texts),
                             lambda: tag(str(corpus), [spec], None, ExecutorConfig(workers=1), retag=True))
    print("in process:", in_process, flush=True)
    # the bare script runs with its folder on sys.path (it imports common); toxmix runs as a user's shell runs it
    bare_cmd = [sys.executable, str(BENCH_DIR / "bench_tag.py"), "--bare-process", str(model_path), str(shard)]
    processes = alternating(
        args.pairs, lambda: subprocess.run(bare_cmd, check=True, capture_output=True),
        lambda: run_quietly(toxmix_cmd("tag", "-c", str(corpus), "-s", spec, "--retag")))
    load.append(machine_load())
    n = len(texts)
    report("tag_vs_fasttext_predict", {
        "docs": n, "model_mb": round(model_path.stat().st_size / 1e6), "train_s": round(t_train["seconds"], 1),
        "load_before_after": load,
        "in_process": {**in_process, "bare_docs_per_s": round(n / in_process["bare_s_median"]),
                       "tag_docs_per_s": round(n / in_process["ours_s_median"])},
        "whole_processes": {**processes, "bare_docs_per_s": round(n / processes["bare_s_median"]),
                            "tag_docs_per_s": round(n / processes["ours_s_median"])},
    })


if __name__ == "__main__":
    main()
