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
Run: OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_materialize.py [--copies 10] [--pairs 7]
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import yaml
from common import (
    alternating,
    bare_encode_cmd,
    c4_copies,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-mat-"))
    c4_copies(work / "in", args.copies)
    corpus = work / "corpus"
    summary = ingest(IngestConfig("c4", [str(work / "in")], str(corpus)), ExecutorConfig())
    manifest = work / "all.yaml"
    manifest.write_text(yaml.safe_dump({"name": "all", "corpus": str(corpus), "seed": 1, "components": [
        {"name": "web", "source": "c4", "tokens": summary.tokens + summary.stored}]}))
    resolve(manifest)
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
    load.append(machine_load())
    figures = {"docs": len(texts), "tokens": tokens, "load_before_after": load,
               "in_process": with_rates(in_process, tokens, "materialize"),
               "whole_processes": with_rates(processes, tokens, "materialize")}
    report("materialize_vs_encode_batch_fast", figures)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
