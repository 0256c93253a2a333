"""Materialize's fetch as the corpus grows: one gather pass plus a read per shard, against the per-shard join over
the whole documents view that materialize ran before (each shard joined its positions with every document).

Synthetic stores of N documents (bench_resolve's: two sources, 8 files each, empty texts); the manifest selects
about the same 200,000 documents (a fixed token budget) at every N, cut into 10 token shards, so only the corpus
grows. Timed in one process per store: the gather (`mixer.manifest.gather.Gather`, one DuckDB join of the
selection with the documents, written partitioned by shard), each shard's read of its own rows
(`read_gathered`), and the previous per-shard join for the first 3 shards. Tokenizing is not timed (the texts
are empty); it does not depend on N.
Run: .venv/bin/python benchmarks/bench_fetch.py --docs 1000000 10000000 30000000
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from bench_resolve import build_store
from common import machine_load, report

from toxmix.mixer.corpus.catalog import open_catalog, sql_literal
from toxmix.mixer.manifest.gather import Gather, read_gathered
from toxmix.mixer.manifest.materialize import plan_shards
from toxmix.mixer.manifest.resolve import resolve

SELECTED_TOKENS = 200_000 * 1_010  # about 200,000 documents of 20-2,000 tokens (+ EOS)
SHARDS = 10


def per_shard_join(corpus: Path, selection: Path, first: int, last: int) -> int:
    """The fetch materialize made per shard before the gather: the shard's positions joined with every document."""
    con = open_catalog(str(corpus))
    rows = con.sql(f"SELECT s.pos, s.component, s.source, s.id, s.tokens, d.text "
                   f"FROM read_parquet({sql_literal(str(selection))}) AS s "
                   "JOIN documents AS d ON d.source = s.source AND d.id = s.id "
                   f"WHERE s.pos BETWEEN {first} AND {last} ORDER BY s.pos").to_arrow_table()
    con.close()
    return len(rows["pos"])  # an Arrow table, as read_gathered gives write_shard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, nargs="+", default=[1_000_000, 10_000_000, 30_000_000])
    parser.add_argument("--work", type=Path, default=None, help="folder for the synthetic stores")
    args = parser.parse_args()
    for n_docs in args.docs:
        work = Path(tempfile.mkdtemp(prefix="bench-fetch-", dir=args.work))
        corpus = work / "corpus"
        build_store(corpus, n_docs)
        manifest = work / "m.yaml"
        manifest.write_text(yaml.safe_dump({"name": "fetch", "corpus": str(corpus), "seed": 1, "components": [
            {"name": "web", "role": "clean", "source": "web", "tokens": SELECTED_TOKENS // 2},
            {"name": "forum", "source": "forum", "tokens": SELECTED_TOKENS // 2}]}))
        lock = resolve(manifest).lock
        selection = corpus / lock.selection.path
        shards = plan_shards(selection, -(-lock.selection.tokens // SHARDS))
        folder = corpus / "gathered" / "fetch"
        load = [machine_load()]
        start = time.perf_counter()
        Gather(str(corpus), str(selection), str(folder), lock.lock_digest,
               tuple((i, a, b) for i, (a, b) in enumerate(shards)), ())()
        gather_s = time.perf_counter() - start
        reads = []
        for i, (a, b) in enumerate(shards):
            start = time.perf_counter()
            assert len(read_gathered(str(folder), lock.lock_digest, i, a, b)["pos"]) == b - a + 1
            reads.append(time.perf_counter() - start)
        joins = []
        for a, b in shards[:3]:
            start = time.perf_counter()
            assert per_shard_join(corpus, selection, a, b) == b - a + 1
            joins.append(time.perf_counter() - start)
        load.append(machine_load())
        med = statistics.median
        report("materialize_fetch", {
            "docs": n_docs, "selected_docs": lock.selection.docs, "shards": len(shards), "load_before_after": load,
            "gather_pass_s": round(gather_s, 2),
            "read_per_shard_s_median": round(med(reads), 4), "read_per_shard_s_range": [round(min(reads), 4),
                                                                                     round(max(reads), 4)],
            "previous_join_per_shard_s_median": round(med(joins), 3),
            "fetch_total_s": round(gather_s + sum(reads), 2),
            "previous_fetch_total_s_projected": round(med(joins) * len(shards), 2),
        })
        print(f"{n_docs:,} documents done", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
