"""Compiling a manifest's components to DuckDB SQL over the corpus catalog."""

import math
from dataclasses import dataclass

import duckdb

from toxmix.core.errors import ToxmixError
from toxmix.mixer.corpus.catalog import attribute_labels, sql_literal
from toxmix.mixer.manifest.predicate import compile_predicate
from toxmix.mixer.manifest.schema import Component, Manifest

# The selection key: md5 hex of "seed:epoch:source:id" (a standard function, so a lock resolves the same
# way on any machine and any DuckDB version; never an engine's internal hash()).
HASH_SPEC = "md5(seed:epoch:source:id)"


@dataclass(frozen=True)
class CompiledComponent:
    """One component's SQL: its candidates, and its selection to a token budget."""

    name: str
    budget: int
    epochs: int
    seed: int
    candidates_sql: str
    tables: tuple[str, ...] = ()

    @property
    def selection_sql(self) -> str:
        """The whole selection, candidates included (as the lock records it)."""
        return self.selection_from(self.candidates_sql)

    def selection_from(self, candidates: str) -> str:
        """The selection over `candidates`, a query of (source, id, tokens): e.g. a table they were saved to."""
        return (
            f"WITH candidates AS ({candidates}), "
            f"keyed AS (SELECT c.source, c.id, c.tokens, e.epoch, "
            f"md5('{self.seed}:' || e.epoch || ':' || c.source || ':' || c.id) AS h "
            f"FROM candidates AS c CROSS JOIN range({self.epochs}) AS e(epoch)), "
            f"ranked AS (SELECT *, sum(tokens) OVER (ORDER BY epoch, h ROWS UNBOUNDED PRECEDING) AS cum FROM keyed) "
            f"SELECT {sql_literal(self.name)} AS component, source, id, tokens, epoch, h FROM ranked "
            f"WHERE cum - tokens < {self.budget}"
        )


def catalog_columns(con: duckdb.DuckDBPyConnection) -> tuple[set[str], dict[str, list[str]]]:
    """Document columns, and attribute tables with their labels, as the catalog shows them."""
    columns = {r[0] for r in con.execute("DESCRIBE documents").fetchall()}
    tables = [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()]
    attributes = {t.removeprefix("attributes_"): attribute_labels(con, t.removeprefix("attributes_"))
                  for t in tables if t.startswith("attributes_")}
    return columns, attributes


def compile_component(c: Component, budget: int, seed: int, columns: set[str],
                      attributes: dict[str, list[str]], sources: list[str]) -> CompiledComponent:
    """The SQL that lists a component's candidates and picks them in hash order up to its budget."""
    for s in c.sources:
        if s not in sources:
            raise ToxmixError(f"components.{c.name}.source: unknown source {s!r} (sources: {', '.join(sources)})")
    joins, where, used = [], [f"d.source IN ({', '.join(map(sql_literal, c.sources))})"], set()
    if c.where:
        predicate, used = compile_predicate(c.where, columns, attributes, f"components.{c.name}.where")
        for table in sorted(used):
            joins.append(f"LEFT JOIN attributes_{table} AS {table} ON {table}.source = d.source AND {table}.id = d.id")
        where.append(f"({predicate})")
    candidates = (
        "SELECT d.source, d.id, CAST(d.n_tokens AS BIGINT) + 1 AS tokens FROM documents AS d "
        + "".join(j + " " for j in joins) + "WHERE " + " AND ".join(where)
    )
    epochs = max(1, math.ceil(c.max_epochs))
    return CompiledComponent(c.name, budget, epochs, seed, candidates, tuple(sorted(used)))


def compile_manifest(manifest: Manifest, budgets: dict[str, int], con: duckdb.DuckDBPyConnection,
                     sources: list[str]) -> list[CompiledComponent]:
    """Compile every component against the catalog on `con`."""
    columns, attributes = catalog_columns(con)
    return [compile_component(c, budgets[c.name], manifest.seed, columns, attributes, sources)
            for c in manifest.components]
