"""The Python API, for notebooks and scripts: the same stages and confinement as the `toxmix` command.

    >>> from toxmix import Corpus
    >>> Corpus("corpus").sql("SELECT source, sum(n_tokens) AS tokens FROM documents GROUP BY source").pl()
"""

from pathlib import Path

from toxmix.mixer.corpus.catalog import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_SPILL_LIMIT,
    DEFAULT_TIMEOUT_S,
    BoundedQuery,
    bounded_query,
)
from toxmix.mixer.corpus.stats import CorpusStats, corpus_stats
from toxmix.mixer.corpus.store import CorpusLayout
from toxmix.mixer.manifest.lockfile import Lock, read_lock
from toxmix.mixer.manifest.materialize import materialize
from toxmix.mixer.manifest.resolve import Resolved, resolve
from toxmix.mixer.manifest.schema import ManifestFile, load_manifest

__all__ = ["Corpus", "Lock", "ManifestFile", "Resolved", "load_manifest", "materialize", "read_lock", "resolve"]


class Corpus:
    """A corpus store opened for questions: `sql()` answers one confined, read-only query, bounded in time
    (`timeout` seconds per fetch; None for none), memory and spill, with `toxmix sql`'s defaults."""

    def __init__(self, root: str | Path, timeout: float | None = DEFAULT_TIMEOUT_S,
                 memory_limit: str = DEFAULT_MEMORY_LIMIT, spill_limit: str = DEFAULT_SPILL_LIMIT):
        self.layout = CorpusLayout.at(root, must_exist=True)
        self.timeout, self.memory_limit, self.spill_limit = timeout, memory_limit, spill_limit

    def __repr__(self) -> str:
        return f"Corpus({str(self.layout.root)!r}: sources {self.sources}, scorers {self.scorers})"

    @property
    def root(self) -> Path:
        return self.layout.root

    @property
    def sources(self) -> list[str]:
        return self.layout.sources()

    @property
    def scorers(self) -> list[str]:
        return self.layout.scorers()

    def sql(self, query: str) -> BoundedQuery:
        """One read-only query over documents, docs, attributes_<scorer>, rejected, mixtures and
        mixture_documents, refused exactly as `toxmix sql` refuses it; call .df(), .pl(), .arrow() or .fetchall()
        on the result (each runs under the time limit; `.relation` is the lazy DuckDB relation, unbounded).
        """
        return bounded_query(str(self.layout.root), query, self.timeout, self.memory_limit, self.spill_limit)

    def stats(self, score: str | None = None) -> CorpusStats:
        """Docs, tokens and bytes per source and per bucket of a score (as `toxmix stats`)."""
        return corpus_stats(str(self.layout.root), score)
