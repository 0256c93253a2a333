"""Confinement for user SQL: one read-only query, over the catalog's views, touching no files."""

import logging
import re

import sqlglot
from sqlglot import exp

from toxmix.core.errors import ToxmixError

_READ_ONLY = (exp.Select, exp.SetOperation, exp.Describe, exp.Show, exp.Summarize)
_TABLE_FUNCTIONS = {"RANGE", "GENERATE_SERIES", "UNNEST"}
_DENIED_FUNCTIONS = {"QUERY", "QUERY_TABLE", "QUERY_TABLE_BY_NAME", "GLOB", "GETENV", "SNIFF_CSV", "LOAD",
                     "INSTALL", "CURRENT_SETTING", "SET_CONFIG", "PARQUET_METADATA", "PARQUET_SCHEMA",
                     "PARQUET_FILE_METADATA", "PARQUET_KV_METADATA", "ICEBERG_SCAN", "DELTA_SCAN",
                     "DUCKDB_SECRETS", "DUCKDB_SETTINGS", "WHICH_SECRET", "DUCKDB_EXTENSIONS"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _function_name(func: exp.Func) -> str:
    return (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).upper()


def check_functions(tree: exp.Expression, what: str) -> None:
    """Refuse functions that read files, run SQL strings or read settings."""
    for func in tree.find_all(exp.Func):
        name = _function_name(func)
        if name.startswith(("READ_", "SCAN_")) or name.endswith("_SCAN") or name in _DENIED_FUNCTIONS:
            raise ToxmixError(f"{what} may not call {name.lower()}(): file, network and settings access is off")


def confine_query(sql: str) -> str:
    """Return sql unchanged if it is one read-only query over named tables; else raise a clear error."""
    try:
        # sqlglot warns on stderr for statements it only knows as commands (LOAD, VACUUM); the refusal says it all
        logging.getLogger("sqlglot").setLevel(logging.ERROR)
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as e:
        first = str(e).splitlines()[0]
        raise ToxmixError(f"cannot parse the SQL ({first}); toxmix sql takes one DuckDB SELECT query") from None
    if len(statements) != 1:
        raise ToxmixError(f"toxmix sql runs exactly one statement, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, _READ_ONLY):
        kind = sql.split()[0].upper()  # the statement's own word: CHECKPOINT parses as a bare column
        raise ToxmixError(f"{kind} is refused: the catalog is read-only; write a SELECT query "
                          "(use --output FILE to save results)")
    for node in tree.walk():
        if isinstance(node, exp.Summarize | exp.Describe) and isinstance(node.this, exp.Literal):
            raise ToxmixError(f"{node.key.upper()} of a file path is refused: files cannot be read; "
                              "summarize a view, e.g. SUMMARIZE documents")
        if isinstance(node, exp.Command | exp.Copy | exp.Insert | exp.Create | exp.Drop | exp.Pragma | exp.Set):
            raise ToxmixError(f"{node.key.upper()} is refused inside a query: the catalog is read-only")
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.Func):
            name = _function_name(table.this)
            if name not in _TABLE_FUNCTIONS:
                raise ToxmixError(f"table function {name.lower()}() is refused: query the catalog's views "
                                  "(documents, docs, attributes_<scorer>, rejected)")
            continue
        if table.catalog or table.db or not _IDENTIFIER.match(table.name or ""):
            raise ToxmixError(f"{table.sql(dialect='duckdb')!r} is not a catalog view: files and other databases "
                              "cannot be read; query documents, docs, attributes_<scorer> or rejected")
    check_functions(tree, "a query")
    return sql
