"""The Python API, for notebooks and scripts: the same stages and confinement as the `toxmix` command.

    >>> from toxmix import Corpus
    >>> Corpus("corpus").sql("SELECT source, sum(n_tokens) AS tokens FROM documents GROUP BY source").pl()
"""

from pathlib import Path

import duckdb

from mixer.corpus.catalog import run_query
from mixer.corpus.stats import CorpusStats, corpus_stats
from mixer.corpus.store import CorpusLayout
from mixer.manifest.lockfile import Lock, read_lock
from mixer.manifest.materialize import materialize
from mixer.manifest.resolve import Resolved, resolve
from mixer.manifest.schema import ManifestFile, load_manifest

__all__ = ["Corpus", "Lock", "ManifestFile", "Resolved", "load_manifest", "materialize", "read_lock", "resolve"]


class Corpus:
    """A corpus store opened for questions: `sql()` answers one confined, read-only query."""

    def __init__(self, root: str | Path):
        self.layout = CorpusLayout.at(root, must_exist=True)

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

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """One read-only query over documents, docs, attributes_<scorer>, rejected, mixtures and
        mixture_documents, refused exactly as `toxmix sql` refuses it; call .df(), .pl() or .arrow() on the result.
        """
        return run_query(str(self.layout.root), query)

    def stats(self, score: str | None = None) -> CorpusStats:
        """Docs, tokens and bytes per source and per bucket of a score (as `toxmix stats`)."""
        return corpus_stats(str(self.layout.root), score)
