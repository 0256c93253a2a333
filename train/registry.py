"""The run registry: a DuckDB table linking each run to its manifest lock, seed, checkpoint and metrics."""

import json
from pathlib import Path

import duckdb

from train.config import TrainRun

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run VARCHAR PRIMARY KEY, manifest VARCHAR, lock_file VARCHAR, lock_digest VARCHAR, shards_digest VARCHAR,
    preset VARCHAR, seed INTEGER, run_dir VARCHAR, checkpoint VARCHAR, metrics VARCHAR, status VARCHAR,
    steps INTEGER, final_loss DOUBLE
)
"""


def registry_path(root: str | Path) -> Path:
    """The registry file of a folder of runs."""
    return Path(root) / "registry.duckdb"


def record_run(root: str | Path, run: TrainRun, status: str) -> None:
    """Insert or update a run's row."""
    rows = [json.loads(ln) for ln in run.metrics_file.read_text().splitlines()] if run.metrics_file.is_file() else []
    last = rows[-1] if rows else {}
    ckpts = sorted(run.checkpoints.glob("step*"), key=lambda p: int(p.name[4:]) if p.name[4:].isdigit() else -1)
    path = registry_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(SCHEMA)
        con.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            run.name, run.manifest, run.lock_file, run.lock_digest, run.shards_digest, run.preset["name"], run.seed,
            run.run_dir, str(ckpts[-1]) if ckpts else None, str(run.metrics_file), status, last.get("step"),
            last.get("loss")])
    finally:
        con.close()


def list_runs(root: str | Path) -> tuple[list[str], list[tuple]]:
    """Columns and rows of the registry."""
    con = duckdb.connect(str(registry_path(root)), read_only=True)
    try:
        rel = con.sql("SELECT run, preset, seed, status, steps, round(final_loss, 4) AS final_loss, lock_digest[:12] "
                      "AS lock, checkpoint FROM runs ORDER BY run")
        return rel.columns, rel.fetchall()
    finally:
        con.close()
