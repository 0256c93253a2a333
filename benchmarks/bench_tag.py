"""Tagging throughput: `toxmix tag` (read Parquet, score, write attributes) vs a bare model.predict loop.

Uses a Dolma-shaped fastText model (2M buckets x dim 100, ~830 MB) trained on the shared labelled data.
Bare loop and pipeline alternate --repeats times (the pipeline's attribute tables are rewritten each time);
the medians are reported. Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_tag.py [--copies 30]
"""

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

import fasttext
import pyarrow.parquet as pq
from common import c4_copies, report, timer

from classifiers.spec import build_scorer
from classifiers.train_fasttext import FastTextParams, study_recipe, train_fasttext
from mixer.corpus.executors import ExecutorConfig
from mixer.corpus.ingest import IngestConfig, ingest
from mixer.corpus.tag import tag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=30, help="copies of the 2,000 C4 docs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bucket", type=int, default=2_000_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-tag-"))
    model = work / "toxicity.bin"
    with timer() as t_train:
        train_fasttext(study_recipe(), str(model), FastTextParams(bucket=args.bucket))
    c4_copies(work / "in", args.copies)
    corpus = work / "corpus"
    ingest(IngestConfig("c4", [str(work / "in")], str(corpus)), ExecutorConfig())
    texts = pq.read_table(next((corpus / "documents" / "c4").glob("*.parquet")), columns=["text"])["text"]
    texts = texts.to_pylist()

    bare_s, pipe_s = [], []
    for _ in range(args.repeats):
        with timer() as t_bare:
            bare = fasttext.load_model(str(model))
            for text in texts:
                bare.predict(text.replace("\n", " "), k=-1)
        del bare
        bare_s.append(t_bare["seconds"])
        build_scorer.cache_clear()
        shutil.rmtree(corpus / "logs" / "tag", ignore_errors=True)
        with timer() as t_pipe:
            tag(str(corpus), [f"fasttext:{model}"], None, ExecutorConfig(workers=1))
        pipe_s.append(t_pipe["seconds"])
    t_bare, t_pipe = {"seconds": statistics.median(bare_s)}, {"seconds": statistics.median(pipe_s)}
    n = len(texts)
    report("tag_fasttext_dolma_shape", {
        "docs": n, "model_mb": round(model.stat().st_size / 1e6), "train_s": round(t_train["seconds"], 1),
        "bare_docs_per_s": round(n / t_bare["seconds"]), "pipeline_docs_per_s": round(n / t_pipe["seconds"]),
        "ratio": round(t_bare["seconds"] / t_pipe["seconds"], 3),
        "repeats": args.repeats, "note": "medians; both include loading the model once",
    })


if __name__ == "__main__":
    main()
