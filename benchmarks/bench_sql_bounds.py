"""What bounding user SQL costs on a normal query, side by side (alternating pairs):

- the Python API: `Corpus(...).sql(q).arrow()` (the query in a bounded child process) against the in-process call
  it replaced, `open_catalog(corpus).sql(q).to_arrow_table()`;
- the command's guard (`toxmix sql` bounds its own process with an address-space limit and a watchdog thread):
  the same in-process query inside `guarded(...)` against it bare.

Run: .venv/bin/python benchmarks/bench_sql_bounds.py [--pairs 9]
"""

import argparse
import shutil
import tempfile
from pathlib import Path

from common import alternating, c4_copies, machine_load, report

QUERY = "SELECT source, count(*) AS docs, sum(n_tokens) AS tokens, avg(n_bytes) AS bytes FROM docs GROUP BY source"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=9)
    args = parser.parse_args()
    from toxmix import Corpus
    from toxmix.mixer.corpus.bounded import Limits, guarded
    from toxmix.mixer.corpus.catalog import open_catalog
    from toxmix.mixer.corpus.executors import ExecutorConfig
    from toxmix.mixer.corpus.ingest import IngestConfig, ingest

    work = Path(tempfile.mkdtemp(prefix="bench-sql-"))
    try:
        c4_copies(work / "in", 1)
        corpus = str(work / "corpus")
        ingest(IngestConfig("c4", [str(work / "in")], corpus), ExecutorConfig())

        def in_process() -> None:
            open_catalog(corpus).sql(QUERY).to_arrow_table()

        def child() -> None:
            Corpus(corpus).sql(QUERY).arrow()

        def guarded_in_process() -> None:
            with guarded(Limits(300, "4GB", "20GB")):
                open_catalog(corpus).sql(QUERY).to_arrow_table()

        in_process(), child(), guarded_in_process()  # warm: file cache, first imports
        load = [machine_load()]
        api = alternating(args.pairs, in_process, child)
        command = alternating(args.pairs, in_process, guarded_in_process)
        load.append(machine_load())
        report("sql_bounds", {"query": QUERY, "docs": 2000, "load_before_after": load,
                              "api_child_vs_in_process": api, "command_guard_vs_none": command})
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
