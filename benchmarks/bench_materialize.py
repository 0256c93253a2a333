"""Materialize throughput: `toxmix manifest materialize` vs the exact tokenizer call it makes,
`Tokenizer.encode_batch_fast(texts, add_special_tokens=False)` with each document's `ids` taken out (a token file
needs them), on the same texts.

The manifest selects every document of a 20,000-document C4 store (the shared sample x10); both sides use the
same tokenizer threads. Alternating pairs in one process (order flipped each pair), each materialize into a
fresh token folder; the median and range of the per-pair ratio are reported, with the machine's load.
Run: .venv/bin/python benchmarks/bench_materialize.py [--copies 10] [--pairs 5]
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import yaml
from common import alternating, c4_copies, machine_load, report

from mixer.corpus.catalog import run_query
from mixer.corpus.executors import ExecutorConfig
from mixer.corpus.ingest import IngestConfig, ingest
from mixer.manifest.materialize import materialize
from mixer.manifest.resolve import resolve
from toxmix.core.tokenizer import load_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=5)
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
    tok.encode_batch_fast(texts[:64], add_special_tokens=False)
    counted = {}

    def bare() -> None:  # the call, and taking each document's ids out, as a token file needs them
        counted["tokens"] = sum(len(e.ids) for i in range(0, len(texts), 1024)
                                for e in tok.encode_batch_fast(texts[i:i + 1024], add_special_tokens=False))

    def ours() -> None:
        shutil.rmtree(corpus / "tokens" / "all", ignore_errors=True)
        counted["materialized"] = materialize(manifest, progress=False).materialized.tokens

    load_before = machine_load()
    figures = alternating(args.pairs, bare, ours)
    assert counted["materialized"] == counted["tokens"] + len(texts), counted  # one EOS per document
    tokens = counted["tokens"]
    figures.update({
        "docs": len(texts), "tokens": tokens, "load_before": load_before, "load_after": machine_load(),
        "bare_tokens_per_s": round(tokens / figures["bare_s_median"]),
        "materialize_tokens_per_s": round(tokens / figures["ours_s_median"]),
    })
    report("materialize_vs_encode_batch_fast", figures)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
