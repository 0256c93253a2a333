"""`toxmix manifest resolve`: compile, select to budget in hash order, lock, and register the mixture."""

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from mixer.catalog import sql_literal
from mixer.errors import ToxmixError
from mixer.manifest.check import check_manifest
from mixer.manifest.compile import HASH_SPEC, CompiledComponent
from mixer.manifest.lockfile import (
    canonical_sha256,
    corpus_fingerprint,
    lock_path,
    selection_ids_sha256,
    toxmix_version,
    write_lock,
)
from mixer.manifest.registry import register_mixture
from mixer.manifest.schema import Manifest
from mixer.store import CorpusLayout


@dataclass
class Resolved:
    """A resolved manifest: the manifest, its corpus, and the lock written for it."""

    manifest: Manifest
    manifest_path: Path
    layout: CorpusLayout
    lock: dict
    lock_file: Path


def _check_feasible(con: duckdb.DuckDBPyConnection, manifest: Manifest, compiled: list[CompiledComponent]) -> dict:
    union = " UNION ALL ".join(
        f"SELECT {sql_literal(c.name)} AS component, count(*) AS docs, coalesce(sum(tokens), 0) AS tokens "
        f"FROM ({c.candidates_sql})" for c in compiled)
    available = {name: (int(docs), int(tokens)) for name, docs, tokens in con.execute(union).fetchall()}
    problems = []
    for comp, c in zip(manifest.components, compiled, strict=True):
        docs, tokens = available[c.name]
        if c.budget > tokens * comp.max_epochs:
            problems.append(f"{c.name}: requested {c.budget:,} tokens, available {tokens:,} in {docs:,} documents"
                            + (f" x max_epochs {comp.max_epochs:g}" if comp.max_epochs != 1 else ""))
    if problems:
        raise ToxmixError("infeasible manifest: " + "; ".join(problems)
                          + " (tokens include one EOS per document)")
    return available


def resolve(manifest_path: str | Path) -> Resolved:
    """Resolve a manifest into a selection and a lock; the same inputs always give the same lock."""
    checked = check_manifest(manifest_path)
    manifest, layout, compiled, con = checked.manifest, checked.layout, checked.compiled, checked.con
    used_sources = {s for c in manifest.components for s in c.sources}
    available = _check_feasible(con, manifest, compiled)

    selection = layout.root / "mixtures" / f"{manifest.name}.parquet"
    selection.parent.mkdir(parents=True, exist_ok=True)
    tmp = selection.with_name(f".{selection.name}.tmp-{os.getpid()}")
    union = " UNION ALL ".join(f"({c.selection_sql})" for c in compiled)
    con.execute(
        f"COPY (SELECT {sql_literal(manifest.name)} AS mixture, component, source, id, tokens, epoch, h, "
        f"row_number() OVER (ORDER BY h) - 1 AS pos FROM ({union}) ORDER BY h) "
        f"TO {sql_literal(str(tmp))} (FORMAT parquet, COMPRESSION zstd)"
    )
    os.replace(tmp, selection)
    per_component = {name: (int(d), int(t), int(e)) for name, d, t, e in con.execute(
        "SELECT component, count(*), sum(tokens), count(DISTINCT epoch) "
        f"FROM read_parquet({sql_literal(str(selection))}) "
        "GROUP BY component").fetchall()}
    con.close()

    read_files = [p for s in used_sources for p in layout.shards(s)]
    for comp, c in zip(manifest.components, compiled, strict=True):
        read_files += [p for t in c.tables for s in comp.sources for p in layout.attributes(t, s).glob("*.parquet")]
    components = {}
    for comp, c in zip(manifest.components, compiled, strict=True):
        docs, tokens, epochs = per_component.get(c.name, (0, 0, 0))
        components[c.name] = {
            "sources": comp.sources, "where": comp.where, "budget": c.budget, "docs": docs, "tokens": tokens,
            "epochs_used": epochs, "available_docs": available[c.name][0],
            "available_tokens": available[c.name][1], "sql": c.selection_sql,
        }
    total = sum(v["tokens"] for v in components.values())
    lock = {
        "toxmix_version": toxmix_version(),
        "manifest": {"name": manifest.name, "sha256": canonical_sha256(manifest.model_dump(mode="json"))},
        "seed": manifest.seed,
        "hash": HASH_SPEC,
        "tokenizer": checked.tokenizer,
        "corpus": corpus_fingerprint(layout, sorted(set(read_files))),
        "components": components,
        "selection": {"path": str(selection.relative_to(layout.root)),
                      "docs": sum(v["docs"] for v in components.values()), "tokens": total,
                      "ids_sha256": selection_ids_sha256(selection)},
    }
    lock_file = lock_path(manifest_path)
    write_lock(lock_file, lock)
    register_mixture(layout, lock)
    return Resolved(manifest, Path(manifest_path), layout, lock, lock_file)

