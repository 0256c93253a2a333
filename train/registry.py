"""The run registry: a DuckDB table linking each run to its manifest lock, seed, checkpoint and metrics."""

from pathlib import Path

import duckdb

from toxmix.train.record import RunRecord, checkpoint_steps, read_metrics

# Keyed by run folder: two runs of one manifest, preset and seed (same name) in two folders are two runs.
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run VARCHAR, manifest VARCHAR, lock_file VARCHAR, lock_digest VARCHAR, shards_digest VARCHAR,
    preset VARCHAR, seed INTEGER, run_dir VARCHAR PRIMARY KEY, checkpoint VARCHAR, metrics VARCHAR, status VARCHAR,
    steps INTEGER, final_loss DOUBLE
)
"""


def _open(path: Path) -> duckdb.DuckDBPyConnection:
    """The registry, moved to the run-folder key if an older toxmix keyed it by run name."""
    con = duckdb.connect(str(path))
    keyed_by = con.execute("SELECT constraint_column_names FROM duckdb_constraints() WHERE table_name = 'runs' "
                           "AND constraint_type = 'PRIMARY KEY'").fetchall()
    if keyed_by and keyed_by[0][0] == ["run"]:
        con.execute("ALTER TABLE runs RENAME TO runs_by_name")
        con.execute(SCHEMA)
        con.execute("INSERT INTO runs SELECT * FROM runs_by_name")
        con.execute("DROP TABLE runs_by_name")
    con.execute(SCHEMA)
    return con


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
    con = _open(path)
    try:
        con.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            run.name, run.manifest, run.lock_file, run.lock_digest, run.shards_digest, run.preset.name, run.seed,
            str(Path(run.run_dir).resolve()), str(ckpts[-1]) if ckpts else None, str(run.metrics_file), status,
            last.step if last else None, last.loss if last else None])
    finally:
        con.close()


def list_runs(root: str | Path) -> tuple[list[str], list[tuple]]:
    """Columns and rows of the registry."""
    con = duckdb.connect(str(registry_path(root)), read_only=True)
    try:
        rel = con.sql("SELECT run, preset, seed, status, steps, round(final_loss, 4) AS final_loss, lock_digest[:12] "
                      "AS lock, run_dir, checkpoint FROM runs ORDER BY run, run_dir")
        return rel.columns, rel.fetchall()
    finally:
        con.close()
