"""What every command pays before it works: `toxmix --help` and `toxmix sql --corpus C "select 1"` as whole
processes, each in alternating pairs beside `python -c "import duckdb"` (the least a SQL command can load).

Also lists the modules `toxmix --help` and `toxmix sql` import that cost the most (`python -X importtime`), so a
regression says where it came from. Targets (issue 30): --help <= 0.2 s, sql "select 1" <= 0.35 s on a quiet
machine.
Run: .venv/bin/python benchmarks/bench_startup.py [--pairs 15]
"""

import argparse
import re
import subprocess
import sys

from common import alternating, c4_copies, compile_sources, machine_load, report, run_quietly, scratch, toxmix_cmd


def heaviest_imports(cmd: list[str], n: int = 8) -> list[tuple[str, float]]:
    """The top-level imports of a command that took longest, with their cumulative milliseconds."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "toxmix.app.cli", *cmd[1:]],
                          capture_output=True, text=True, check=True)
    found = []
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if m and not m.group(2).startswith(" "):
            found.append((m.group(2), round(int(m.group(1)) / 1000, 1)))
    return sorted(found, key=lambda x: -x[1])[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=15)
    args = parser.parse_args()
    compile_sources()
    work = scratch("bench-startup-")
    c4_copies(work / "in", 1)
    corpus = work / "corpus"
    run_quietly(toxmix_cmd("ingest", "c4", str(work / "in"), "--corpus", str(corpus)))
    duckdb = [sys.executable, "-c", "import duckdb"]
    commands = {"help": toxmix_cmd("--help"), "sql_select_1": toxmix_cmd("sql", "--corpus", str(corpus), "select 1")}
    load = [machine_load()]
    figures = {}
    for name, cmd in commands.items():
        run_quietly(cmd)  # warm-up, untimed: the page cache
        figures[name] = alternating(args.pairs, lambda: run_quietly(duckdb), lambda cmd=cmd: run_quietly(cmd))
        figures[name]["heaviest_imports_ms"] = heaviest_imports(cmd)
        print(name, figures[name], flush=True)
    load.append(machine_load())
    report("startup_vs_import_duckdb", {"load_before_after": load, **figures})


if __name__ == "__main__":
    main()
