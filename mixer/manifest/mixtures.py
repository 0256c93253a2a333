"""The corpus catalog's record of resolved mixtures: a `mixtures` table in `catalog.duckdb`."""

import duckdb

from toxmix.mixer.corpus.store import CorpusLayout
from toxmix.mixer.manifest.lockfile import Lock

SCHEMA = """
CREATE TABLE IF NOT EXISTS mixtures (
    mixture VARCHAR, lock_digest VARCHAR, component VARCHAR, sources VARCHAR, predicate VARCHAR,
    budget BIGINT, docs BIGINT, tokens BIGINT, selection VARCHAR
)
"""


def register_mixture(layout: CorpusLayout, lock: Lock) -> None:
    """Replace the mixture's rows in the catalog with one row per component of this lock."""
    name = lock.manifest.name
    rows = [(name, lock.lock_digest, comp, ",".join(v.sources), v.where, v.budget, v.docs, v.tokens,
             lock.selection.path) for comp, v in lock.components.items()]
    con = duckdb.connect(str(layout.catalog_path))
    try:
        con.execute(SCHEMA)
        con.execute("BEGIN")
        con.execute("DELETE FROM mixtures WHERE mixture = ?", [name])
        con.executemany("INSERT INTO mixtures VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.execute("COMMIT")
    finally:
        con.close()
