"""Resolve speed and memory: `toxmix manifest resolve` vs a hand-written DuckDB window query.

A synthetic store of N documents (two sources, half each, 8 shards per source) with one attribute table.
The hand-written query is the core of any such selection: a running token sum in md5 order per source,
cut at the budget. toxmix also checks feasibility, writes the ordered selection, hashes it, fingerprints
the corpus files, writes the lock and registers the mixture. Each measurement runs in a fresh process.
Alternating pairs of fresh processes (order flipped each pair); medians and the range of the per-pair ratio.
With --memory-limit both sides run under that DuckDB memory limit and spill to disk (toxmix under CORPUS/spill/,
the hand query to a folder beside the corpus).
Run: .venv/bin/python benchmarks/bench_resolve.py --docs 1000000 10000000 [--pairs 5]
     .venv/bin/python benchmarks/bench_resolve.py --docs 100000000 --memory-limit 8GB --pairs 2
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from common import compile_sources, machine_load, peak_rss_mb, report

from toxmix.core.files import write_json
from toxmix.core.tokenizer import tokenizer_info

SHARDS = 8
BUDGET_FRACTION = 0.4


def build_store(root: Path, n_docs: int) -> dict:
    """Documents (id, source, text, n_bytes, n_tokens) and attributes, 8 shards per source."""
    rng = np.random.default_rng(0)
    tok = tokenizer_info()
    tokens = {}
    for source in ("web", "forum"):
        per_source = n_docs // 2
        total = 0
        for shard, rows in enumerate(np.array_split(np.arange(per_source), SHARDS)):
            n = len(rows)
            ids = pc.binary_join_element_wise(source, pc.cast(pa.array(rows), pa.string()), "-")
            n_tokens = rng.integers(20, 2000, n)
            total += int(n_tokens.sum()) + n
            sources = pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), [source]).cast(pa.string())
            docs = pa.table({"id": ids, "source": sources, "text": pa.nulls(n, pa.string()).fill_null(""),
                             "n_bytes": pa.array(n_tokens * 4), "n_tokens": pa.array(n_tokens)})
            attrs = pa.table({"id": ids, "source": sources,
                              "toxic": pa.array(rng.random(n, dtype=np.float32))})
            for kind, table in (("documents", docs), ("attributes/fasttext_toxicity", attrs)):
                path = root / kind / source / f"{shard:05d}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table, path, compression="zstd")
        write_json(root / "meta" / "sources" / f"{source}.json",
                   {"source": source, "documents": per_source, "tokenizer": {"name": tok.name, "sha256": tok.sha256}})
        tokens[source] = total
    return tokens


def baseline(corpus: Path, budget: int, memory_limit: str) -> None:
    import duckdb

    from toxmix.core.settings import default_threads

    spill = corpus.parent / "hand-spill"
    spill.mkdir(exist_ok=True)
    con = duckdb.connect(config={"threads": default_threads(),  # as many as toxmix's catalog uses
                                 "memory_limit": memory_limit, "temp_directory": str(spill),
                                 "max_temp_directory_size": "100GB"})
    docs, attrs = corpus / "documents/*/*.parquet", corpus / "attributes/fasttext_toxicity/*/*.parquet"
    n = con.execute(f"""
        SELECT count(*) FROM (
            SELECT d.source, d.id, sum(d.n_tokens + 1) OVER (
                PARTITION BY d.source ORDER BY md5('1:0:' || d.source || ':' || d.id) ROWS UNBOUNDED PRECEDING) AS cum
            FROM read_parquet('{docs}') d JOIN read_parquet('{attrs}') a ON a.source = d.source AND a.id = d.id
            WHERE (d.source = 'web' AND a.toxic < 0.5) OR d.source = 'forum'
        ) WHERE cum <= {budget}""").fetchall()[0][0]
    assert n > 0


def _child(kind: str, target: str, budget: int, memory_limit: str) -> None:
    import duckdb  # noqa: F401 - imports are not part of the timing, for either side

    from toxmix.mixer.manifest.resolve import resolve

    start = time.perf_counter()
    if kind == "baseline":
        baseline(Path(target), budget, memory_limit)
    else:
        resolve(Path(target), memory_limit=memory_limit, spill_limit="100GB")
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}))


def _measure(kind: str, target: Path, budget: int, memory_limit: str) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, str(target), str(budget), memory_limit]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--pairs", type=int, default=5, help="alternating pairs (fresh processes) per size")
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB's memory limit on both sides (toxmix's default)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the synthetic store (default: a temp dir)")
    parser.add_argument("--child", nargs=4)
    args = parser.parse_args()
    compile_sources()
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]), args.child[3])
        return
    for n_docs in args.docs:
        work = Path(tempfile.mkdtemp(prefix="bench-resolve-", dir=args.work))
        corpus = work / "corpus"
        started = time.perf_counter()
        tokens = build_store(corpus, n_docs)
        print(f"built {n_docs:,} documents in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        budget = int(tokens["web"] * 0.5 * BUDGET_FRACTION)
        manifest = work / "m.yaml"
        manifest.write_text(yaml.safe_dump({"name": "bench", "corpus": str(corpus), "seed": 1, "components": [
            {"name": "clean", "role": "clean", "source": "web", "where": "fasttext_toxicity.toxic < 0.5",
             "tokens": budget},
            {"name": "toxic", "source": "forum", "tokens": budget}]}))
        runs = {"baseline": [], "toxmix": []}
        load = [machine_load()]
        for i in range(args.pairs):
            order = ("baseline", "toxmix") if i % 2 == 0 else ("toxmix", "baseline")
            for kind in order:
                runs[kind].append(_measure(kind, corpus if kind == "baseline" else manifest, budget, args.memory_limit))
                print(f"pair {i + 1} {kind}: {runs[kind][-1]}", file=sys.stderr)
        load.append(machine_load())
        ratios = [t["seconds"] / b["seconds"] for b, t in zip(runs["baseline"], runs["toxmix"], strict=True)]
        med = statistics.median
        report("resolve_two_components", {
            "docs": n_docs, "pairs": args.pairs, "memory_limit": args.memory_limit, "load_before_after": load,
            "baseline_s_median": round(med(r["seconds"] for r in runs["baseline"]), 2),
            "toxmix_s_median": round(med(r["seconds"] for r in runs["toxmix"]), 2),
            "time_ratio_median": round(med(ratios), 3),
            "time_ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
            "baseline_peak_mb_median": round(med(r["peak_rss_mb"] for r in runs["baseline"])),
            "toxmix_peak_mb_median": round(med(r["peak_rss_mb"] for r in runs["toxmix"])),
        })
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
