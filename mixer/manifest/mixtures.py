"""The corpus's record of resolved mixtures: one small Parquet file per mixture (`mixtures/components/NAME.parquet`,
one row per component), read by the `mixtures` view.

A file per mixture, replaced atomically, instead of one shared database: readers never take a lock, writers of
different mixtures never wait for each other, and a reader sees each mixture's old rows or its new ones, whole.
"""

import pyarrow as pa
import pyarrow.parquet as pq

from toxmix.core.files import atomic_path
from toxmix.mixer.corpus.store import CorpusLayout
from toxmix.mixer.manifest.lockfile import Lock

SCHEMA = pa.schema([("mixture", pa.string()), ("lock_digest", pa.string()), ("component", pa.string()),
                    ("role", pa.string()), ("sources", pa.string()), ("predicate", pa.string()),
                    ("budget", pa.int64()), ("docs", pa.int64()), ("tokens", pa.int64()), ("selection", pa.string())])


def register_mixture(layout: CorpusLayout, lock: Lock) -> None:
    """Replace the mixture's rows with one row per component of this (sealed) lock."""
    name = lock.manifest.name
    rows = [{"mixture": name, "lock_digest": lock.lock_digest, "component": comp, "role": v.role,
             "sources": ",".join(v.sources), "predicate": v.where, "budget": v.budget, "docs": v.docs,
             "tokens": v.tokens, "selection": lock.selection.path} for comp, v in lock.components.items()]
    path = layout.mixture_components(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), tmp)
