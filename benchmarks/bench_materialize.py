"""Materialize throughput: `toxmix manifest materialize` vs bare `encode_batch` on the same texts.

The manifest selects every document of a 20,000-document C4 store (the shared sample x10); both sides use the
same tokenizer threads. Run: .venv/bin/python benchmarks/bench_materialize.py [--copies 10]
"""

import argparse
import tempfile
from pathlib import Path

import yaml
from common import c4_copies, report, timer

from mixer.corpus.catalog import run_query
from mixer.corpus.executors import ExecutorConfig
from mixer.corpus.ingest import IngestConfig, ingest
from mixer.manifest.materialize import materialize
from mixer.manifest.resolve import resolve
from toxmix.core.tokenizer import load_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-mat-"))
    c4_copies(work / "in", args.copies)
    corpus = work / "corpus"
    summary = ingest(IngestConfig("c4", [str(work / "in")], str(corpus)), ExecutorConfig())
    manifest = work / "all.yaml"
    manifest.write_text(yaml.safe_dump({"name": "all", "corpus": str(corpus), "seed": 1, "components": [
        {"name": "web", "source": "c4", "tokens": summary.tokens + summary.stored}]}))
    resolve(manifest)
    texts = [r[0] for r in run_query(str(corpus), "SELECT text FROM documents").fetchall()]
    tok = load_tokenizer()
    tok.encode_batch(texts[:64])
    with timer() as t_bare:
        tokens = 0
        for i in range(0, len(texts), 1024):
            tokens += sum(len(e.ids) for e in tok.encode_batch(texts[i:i + 1024], add_special_tokens=False))
    with timer() as t_mat:
        lock = materialize(manifest, progress=False)
    assert lock.materialized.tokens == tokens + len(texts)
    report("materialize_olmo_tokens", {
        "docs": len(texts), "tokens": tokens,
        "bare_encode_batch_tokens_per_s": round(tokens / t_bare["seconds"]),
        "materialize_tokens_per_s": round(tokens / t_mat["seconds"]),
        "ratio": round(t_bare["seconds"] / t_mat["seconds"], 3),
    })


if __name__ == "__main__":
    main()
