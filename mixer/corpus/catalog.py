"""The DuckDB catalog over a corpus store: views of documents, attributes, rejects, and a joined `docs`."""

import atexit
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import duckdb

from toxmix.core.errors import ToxmixError
from toxmix.core.processes import LEFT_ON_EXIT
from toxmix.core.settings import default_threads
from toxmix.mixer.corpus.bounded import Limits, parse_size, run_bounded
from toxmix.mixer.corpus.store import CorpusLayout


def sql_literal(s: str) -> str:
    """A string as a quoted SQL literal (embedded quotes doubled)."""
    return "'" + s.replace("'", "''") + "'"


def attribute_labels(con: duckdb.DuckDBPyConnection, scorer: str) -> list[str]:
    """Label columns of an attribute view (all but id and source)."""
    cols = [r[0] for r in con.execute(f"DESCRIBE attributes_{scorer}").fetchall()]
    return [c for c in cols if c not in ("id", "source")]


def create_views(con: duckdb.DuckDBPyConnection, layout: CorpusLayout) -> None:
    """Create `documents`, `rejected`, `attributes_<scorer>` and `docs` views on the connection."""
    sources = layout.sources()
    if not sources:
        raise ToxmixError(f"corpus {layout.root} has no sources yet; add one with 'toxmix ingest'")
    doc_files = [str(layout.documents(s) / "*.parquet") for s in sources]
    con.execute(f"CREATE VIEW documents AS SELECT * FROM read_parquet([{', '.join(map(sql_literal, doc_files))}], "
                "union_by_name=true)")
    rej_files = [str(layout.rejected(s) / "*.parquet") for s in sources if any(layout.rejected(s).glob("*.parquet"))]
    if rej_files:
        con.execute(f"CREATE VIEW rejected AS SELECT * FROM read_parquet([{', '.join(map(sql_literal, rej_files))}])")
    else:
        con.execute("CREATE VIEW rejected AS SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS reason, "
                    "NULL::VARCHAR AS file, NULL::BIGINT AS row, NULL::VARCHAR AS id, NULL::BLOB AS raw LIMIT 0")
    joins, structs = [], []
    for scorer in layout.scorers():
        files = [str(p) for s in sources for p in [layout.attributes(scorer, s) / "*.parquet"]
                 if any(layout.attributes(scorer, s).glob("*.parquet"))]
        if not files:
            continue
        listed = ", ".join(map(sql_literal, files))
        con.execute(f"CREATE VIEW attributes_{scorer} AS SELECT * FROM read_parquet([{listed}], "
                    "union_by_name=true)")
        labels = attribute_labels(con, scorer)
        fields = ", ".join(f'"{lab}" := a_{scorer}."{lab}"' for lab in labels)
        structs.append(f"struct_pack({fields}) AS {scorer}")
        joins.append(f"LEFT JOIN attributes_{scorer} a_{scorer} ON a_{scorer}.source = d.source "
                     f"AND a_{scorer}.id = d.id")
    select = ", ".join(["d.*", *structs])
    con.execute(f"CREATE VIEW docs AS SELECT {select} FROM documents d {' '.join(joins)}")
    create_mixture_views(con, layout)


def create_mixture_views(con: duckdb.DuckDBPyConnection, layout: CorpusLayout) -> None:
    """`mixtures` (one row per component of each resolved mixture) and `mixture_documents` (what each holds)."""
    selections = sorted(layout.mixtures_root.glob("*.parquet"))
    components = sorted((layout.mixtures_root / "components").glob("*.parquet"))
    if components:
        files = ", ".join(sql_literal(str(p)) for p in components)
        con.execute(f"CREATE VIEW mixtures AS SELECT * FROM read_parquet([{files}])")
    if selections:
        files = ", ".join(sql_literal(str(p)) for p in selections)
        con.execute(f"CREATE VIEW mixture_documents AS SELECT mixture, component, source, id, tokens, epoch, pos "
                    f"FROM read_parquet([{files}])")


def lock_down(con: duckdb.DuckDBPyConnection, layout: CorpusLayout) -> None:
    """Allow reads under the corpus only, no extensions, and freeze the settings."""
    con.execute(f"SET allowed_directories=[{sql_literal(str(layout.root) + '/')}]")
    con.execute("SET autoinstall_known_extensions=false")
    con.execute("SET autoload_known_extensions=false")
    con.execute("SET enable_external_access=false")
    con.execute("SET lock_configuration=true")


DEFAULT_MEMORY_LIMIT = "4GB"
DEFAULT_SPILL_LIMIT = "20GB"


@lru_cache(maxsize=1)
def private_spill_dir() -> str:
    """A private folder for DuckDB's spill files, removed at exit: never the working directory's `.tmp`, which
    DuckDB would otherwise create, and allow queries to read, and follow if it were a link."""
    path = tempfile.mkdtemp(prefix="toxmix-duckdb-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@contextmanager
def corpus_spill_dir(layout: CorpusLayout) -> Iterator[str]:
    """A folder of this process's own under `CORPUS/spill/` for DuckDB's spill files (on the corpus's disk, which
    holds room for the corpus, rather than /tmp), removed after the block. No view reads it, and user SQL reads
    no files at all."""
    layout.spill_root.mkdir(parents=True, exist_ok=True)
    path = tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=layout.spill_root)  # mode 0700
    LEFT_ON_EXIT.add(Path(path))
    try:
        yield path
    finally:
        LEFT_ON_EXIT.discard(Path(path))
        shutil.rmtree(path, ignore_errors=True)


def open_catalog(corpus: str, memory_limit: str = DEFAULT_MEMORY_LIMIT, spill_limit: str = DEFAULT_SPILL_LIMIT,
                 spill_dir: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the corpus views, locked down and bounded in memory and spill, using
    the cores this process may use (`default_threads`); spill files go to `spill_dir` (default: a private
    temporary folder)."""
    layout = CorpusLayout.at(corpus, must_exist=True)
    try:
        con = duckdb.connect(":memory:", config={"threads": default_threads(), "memory_limit": memory_limit,
                                                 "max_temp_directory_size": spill_limit,
                                                 "temp_directory": spill_dir or private_spill_dir()})
    except duckdb.Error as e:
        raise ToxmixError(f"bad memory or spill limit ({str(e).splitlines()[0]}); write sizes like 4GB") from None
    create_views(con, layout)
    lock_down(con, layout)
    return con


@contextmanager
def bounded(con: duckdb.DuckDBPyConnection, seconds: float | None) -> Iterator[None]:
    """Run the block's query work under a time limit (the connection is interrupted when it passes); execution
    errors, which are the user's, become one line."""
    timer = threading.Timer(seconds, con.interrupt) if seconds else None
    if timer:
        timer.start()
    try:
        yield
    except duckdb.InterruptException:
        raise ToxmixError(f"query stopped after {seconds:g} s; raise --timeout, or narrow the query") from None
    except duckdb.OutOfMemoryException as e:
        raise ToxmixError(f"query ran out of its memory or spill limit ({_first_line(e)}); raise --memory-limit, "
                          "or narrow the query") from None
    except duckdb.Error as e:
        raise ToxmixError(f"query failed: {_first_line(e)}") from None
    finally:
        if timer:
            timer.cancel()


def _first_line(e: Exception, most: int = 300) -> str:
    line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return line if len(line) <= most else line[:most] + "..."


DEFAULT_TIMEOUT_S = 300.0


class BoundedQuery:
    """A confined query, run once in a child process bounded in time and memory (`toxmix.mixer.corpus.bounded`),
    its result kept; `.relation` is the lazy DuckDB relation in this process, unbounded."""

    def __init__(self, corpus: str, sql: str, limits: Limits):
        self.corpus, self.sql, self.limits = corpus, sql, limits
        self._table = None

    @property
    def timeout(self) -> float | None:
        return self.limits.timeout

    def arrow(self):
        """The result as a pyarrow Table."""
        if self._table is None:
            self._table = run_bounded(self.corpus, self.sql, self.limits)
        return self._table

    @property
    def columns(self) -> list[str]:
        return self.arrow().column_names

    def fetchall(self) -> list[tuple]:
        table = self.arrow()
        return list(zip(*(c.to_pylist() for c in table.columns), strict=True)) if table.num_columns else []

    def df(self):
        """The result as a pandas DataFrame."""
        return self.arrow().to_pandas()

    def pl(self):
        """The result as a polars DataFrame."""
        import polars

        return polars.from_arrow(self.arrow())

    @property
    def relation(self) -> duckdb.DuckDBPyRelation:
        """The query as a lazy DuckDB relation in this process: no time or memory bound beyond DuckDB's own."""
        con = open_catalog(self.corpus, self.limits.memory_limit, self.limits.spill_limit)
        return con.sql(self.sql)

    def __repr__(self) -> str:
        return repr(self.arrow())


def bounded_query(corpus: str, sql: str, timeout: float | None = DEFAULT_TIMEOUT_S,
                  memory_limit: str = DEFAULT_MEMORY_LIMIT, spill_limit: str = DEFAULT_SPILL_LIMIT) -> BoundedQuery:
    """One confined, read-only query, refused now if confinement refuses it, run (in a bounded child) when its
    result is first asked for; timeout None or 0: no time limit."""
    from toxmix.mixer.corpus.sqlguard import confine_query  # sqlglot: only user SQL pays its import

    confine_query(sql)
    CorpusLayout.at(corpus, must_exist=True)
    parse_size(memory_limit)
    parse_size(spill_limit)
    return BoundedQuery(corpus, sql, Limits(timeout or None, memory_limit, spill_limit))
