"""The run registry: a DuckDB table linking each run to its manifest lock, seed, checkpoint and metrics."""

from pathlib import Path

import duckdb

from train.record import RunRecord, checkpoint_steps, read_metrics

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


def record_run(root: str | Path, run: RunRecord, status: str) -> None:
    """Insert or update a run's row."""
    rows = read_metrics(run.metrics_file)
    last = rows[-1] if rows else None
    ckpts = [p for _, p in checkpoint_steps(run.checkpoints)]
    path = registry_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(SCHEMA)
        con.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            run.name, run.manifest, run.lock_file, run.lock_digest, run.shards_digest, run.preset.name, run.seed,
            run.run_dir, str(ckpts[-1]) if ckpts else None, str(run.metrics_file), status, last.step if last else None,
            last.loss if last else None])
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
