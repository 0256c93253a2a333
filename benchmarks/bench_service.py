"""Load on `toxmix serve` (loopback only, bounded in clients and time), and its SQL overhead over `Corpus.sql`.

Builds a project from the shared data (C4 and Stormfront ingested, tagged with a fastText model trained on the
shared labelled sets), starts `toxmix serve` on a free loopback port, and runs `--clients` concurrent clients for
`--seconds`, each looping over overview, a page of documents, a SQL query and the histogram. Reports errors by
status, and p50/p99 latency per kind. Then, side by side in alternating pairs, the same query through the service
(`POST /api/sql`, one client) and through `Corpus(...).sql(q).arrow()` in this process: the ratio is
Corpus/service (< 1: the service is slower by HTTP, auth and the history write).

Run: .venv/bin/python benchmarks/bench_service.py [--clients 50] [--seconds 60] [--pairs 9] [--max-queries 4]
"""

import argparse
import asyncio
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import alternating, compile_sources, machine_load, report, scratch

from toxmix.core.settings import shared_path

QUERY = "SELECT source, count(*) AS docs, sum(n_tokens) AS tokens FROM documents GROUP BY source ORDER BY source"


def build_project(root: Path) -> None:
    """corpus/ with C4 and Stormfront, tagged; the service's state with one reader."""
    from toxmix.app.cli import main as toxmix
    from toxmix.classifiers.train_fasttext import FastTextParams, study_recipe, train_fasttext

    corpus = str(root / "corpus")
    assert toxmix(["ingest", "c4", str(shared_path("data", "c4", "c4-validation-2k.parquet")), "-c", corpus]) == 0
    assert toxmix(["ingest", "stormfront", str(shared_path("data", "stormfront", "stormfront.jsonl.gz")), "-c",
                   corpus, "-k", "label"]) == 0
    model = root / "toxicity.bin"
    train_fasttext(study_recipe(), str(model), FastTextParams(bucket=20_000, epoch=5))
    assert toxmix(["tag", "-c", corpus, "-s", f"fasttext:{model},name=tox"]) == 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(base: str, token: str, clients: int, seconds: float) -> dict:
    """`clients` concurrent loops over four requests for `seconds`; latencies and errors by kind."""
    import httpx

    requests = {
        "overview": ("GET", "/api/overview", None),
        "documents": ("GET", "/api/documents?source=stormfront&limit=20", None),
        "sql": ("POST", "/api/sql", {"query": QUERY}),
        "histogram": ("GET", "/api/histogram", None),
    }
    latencies: dict[str, list[float]] = {k: [] for k in requests}
    errors: dict[str, int] = {}
    stop = time.monotonic() + seconds

    async def client(i: int, http: httpx.AsyncClient) -> None:
        kinds = list(requests)
        random.Random(i).shuffle(kinds)
        n = 0
        while time.monotonic() < stop:
            kind = kinds[n % len(kinds)]
            method, path, body = requests[kind]
            start = time.monotonic()
            try:
                r = await http.request(method, path, json=body)
                status = str(r.status_code)
            except httpx.HTTPError as e:
                status = type(e).__name__
            latencies[kind].append(time.monotonic() - start)
            if status != "200":
                errors[f"{kind} {status}"] = errors.get(f"{kind} {status}", 0) + 1
            n += 1

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120,
                                 limits=limits) as http:
        await asyncio.gather(*(client(i, http) for i in range(clients)))
    return {"requests": sum(map(len, latencies.values())), "errors": errors,
            "latency_s": {k: {"n": len(v), "p50": round(percentile(v, 0.5), 3), "p99": round(percentile(v, 0.99), 3)}
                          for k, v in latencies.items() if v}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--max-queries", type=int, default=4)
    args = parser.parse_args()
    compile_sources()
    if not 1 <= args.clients <= 200 or not 1 <= args.seconds <= 600:
        sys.exit("--clients 1..200 and --seconds 1..600: the load stays bounded")
    import httpx

    from toxmix import Corpus
    from toxmix.app.service.state import State

    root = scratch("bench-service-")
    build_project(root)
    token = State(root).add_user("bench", "reader")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "toxmix.app.cli", "serve", str(root), "--port", str(port),
                               "--max-queries", str(args.max_queries)], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {token}"}).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        figures = asyncio.run(load(base, token, args.clients, args.seconds))
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            corpus = Corpus(root / "corpus")
            rows = corpus.sql(QUERY).fetchall()
            assert http.post("/api/sql", json={"query": QUERY}).json()["rows"] == [list(r) for r in rows]
            overhead = alternating(args.pairs, lambda: corpus.sql(QUERY).arrow(),
                                   lambda: http.post("/api/sql", json={"query": QUERY}).raise_for_status())
    finally:
        server.terminate()
        server.wait(timeout=30)
    report("service", {"clients": args.clients, "seconds": args.seconds, "max_queries": args.max_queries, **figures,
                       "sql_corpus_over_service": overhead, "load_1min": machine_load(),
                       "p50_all": round(statistics.median([v["p50"] for v in figures["latency_s"].values()]), 3)})


if __name__ == "__main__":
    main()
