"""`where` predicates: expressions over one source's columns and attributes, and nothing else."""

import sqlglot
from sqlglot import exp

from toxmix.core.errors import ToxmixError
from toxmix.mixer.corpus.sqlguard import check_functions

_FORBIDDEN = (exp.Query, exp.Subquery, exp.Table, exp.Command, exp.Copy, exp.Insert, exp.Create, exp.Drop,
              exp.Pragma, exp.Set, exp.Star, exp.Summarize, exp.Describe, exp.Window)


def compile_predicate(
    where: str, columns: set[str], attributes: dict[str, list[str]], what: str
) -> tuple[str, set[str]]:
    """Check a predicate and qualify its columns: plain names -> `d.name`, `scorer.label` stays.

    Returns the DuckDB SQL of the predicate and the attribute tables it uses.
    """
    try:
        tree = sqlglot.parse_one(where, read="duckdb")
    except sqlglot.errors.ParseError as e:
        raise ToxmixError(f"{what}: cannot parse ({str(e).splitlines()[0]})") from None
    if isinstance(tree, exp.Query) or tree.find(*_FORBIDDEN) is not None:
        raise ToxmixError(f"{what}: only an expression over one document's columns is allowed (no queries, "
                          "tables, SUMMARIZE, window functions or *)")
    check_functions(tree, what)
    used: set[str] = set()
    for col in tree.find_all(exp.Column):
        table, name = col.table, col.name
        if col.args.get("db") or col.args.get("catalog"):
            raise ToxmixError(f"{what}: {col.sql()!r} is not a column; use name or scorer.label")
        if table:
            if table not in attributes:
                known = ", ".join(sorted(attributes)) or "none tagged yet"
                raise ToxmixError(f"{what}: unknown attribute table {table!r} (tagged: {known})")
            if name not in attributes[table]:
                raise ToxmixError(f"{what}: unknown column {table}.{name} (labels: {', '.join(attributes[table])})")
            used.add(table)
        elif name not in columns:
            raise ToxmixError(f"{what}: unknown column {name!r} (columns: {', '.join(sorted(columns))})")
        else:
            col.set("table", exp.to_identifier("d"))
    return tree.sql(dialect="duckdb"), used
