"""`toxmix manifest resolve`: compile, select to budget in hash order, lock, and register the mixture."""

from dataclasses import dataclass
from pathlib import Path

import duckdb

from mixer.corpus.catalog import sql_literal
from mixer.corpus.store import CorpusLayout
from mixer.manifest.check import check_manifest
from mixer.manifest.compile import HASH_SPEC, CompiledComponent
from mixer.manifest.lockfile import (
    LOCK_VERSION,
    ComponentLock,
    Lock,
    ManifestRef,
    Selection,
    corpus_fingerprint,
    selection_ids_sha256,
    toxmix_version,
    write_lock,
)
from mixer.manifest.mixtures import register_mixture
from mixer.manifest.outputs import claim_outputs
from mixer.manifest.schema import Manifest, ManifestFile, as_manifest_file
from toxmix.core.errors import ToxmixError
from toxmix.core.files import atomic_path
from toxmix.core.locks import one_writer


@dataclass
class Resolved:
    """A resolved manifest: the manifest file, its corpus, and the lock written for it."""

    file: ManifestFile
    layout: CorpusLayout
    lock: Lock

    @property
    def lock_file(self) -> Path:
        return self.file.lock_path


def check_feasible(con: duckdb.DuckDBPyConnection, manifest: Manifest, compiled: list[CompiledComponent]) -> dict:
    """Refuse budgets above what the candidates hold (times max_epochs); return (docs, tokens) per component."""
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


def mixture_writer(mf: ManifestFile, wait: bool = False):
    """The one-writer lock of a mixture's selection, lock file and token files."""
    return one_writer(mf.corpus().lock("mixture", mf.name), f"mixture {mf.name!r}", wait)


def resolve(manifest: str | Path | ManifestFile, wait: bool = False) -> Resolved:
    """Resolve a manifest into a selection and a lock; the same inputs always give the same lock.

    One writer per mixture: another resolve or materialize of it is refused, or waited for with `wait`.
    """
    mf = as_manifest_file(manifest)
    with mixture_writer(mf, wait):
        return resolve_unlocked(mf)


def resolve_unlocked(mf: ManifestFile) -> Resolved:
    """`resolve`, for a caller that already holds the mixture's writer lock."""
    checked = check_manifest(mf)
    mf, layout, compiled, con = checked.file, checked.layout, checked.compiled, checked.con
    spec = mf.manifest
    used_sources = {s for c in spec.components for s in c.sources}
    available = check_feasible(con, spec, compiled)
    claim_outputs(mf, layout)

    selection = layout.selection(spec.name)
    union = " UNION ALL ".join(f"({c.selection_sql})" for c in compiled)
    with atomic_path(selection) as tmp:
        con.execute(
            f"COPY (SELECT {sql_literal(spec.name)} AS mixture, component, source, id, tokens, epoch, h, "
            f"row_number() OVER (ORDER BY h) - 1 AS pos FROM ({union}) ORDER BY h) "
            f"TO {sql_literal(str(tmp))} (FORMAT parquet, COMPRESSION zstd)"
        )
    per_component = {name: (int(d), int(t), int(e)) for name, d, t, e in con.execute(
        "SELECT component, count(*), sum(tokens), count(DISTINCT epoch) "
        f"FROM read_parquet({sql_literal(str(selection))}) "
        "GROUP BY component").fetchall()}
    con.close()

    read_files = [p for s in used_sources for p in layout.shards(s)]
    for comp, c in zip(spec.components, compiled, strict=True):
        read_files += [p for t in c.tables for s in comp.sources for p in layout.attributes(t, s).glob("*.parquet")]
    components = {}
    for comp, c in zip(spec.components, compiled, strict=True):
        docs, tokens, epochs = per_component.get(c.name, (0, 0, 0))
        components[c.name] = ComponentLock(
            sources=comp.sources, where=comp.where, budget=c.budget, docs=docs, tokens=tokens, epochs_used=epochs,
            available_docs=available[c.name][0], available_tokens=available[c.name][1], sql=c.selection_sql)
    lock = Lock(
        version=LOCK_VERSION,
        toxmix_version=toxmix_version(),
        manifest=ManifestRef(name=spec.name, sha256=mf.sha256),
        selection_seed=spec.seed,
        hash=HASH_SPEC,
        tokenizer=checked.tokenizer,
        corpus=corpus_fingerprint(layout, sorted(set(read_files))),
        components=components,
        selection=Selection(path=str(selection.relative_to(layout.root)),
                            docs=sum(v.docs for v in components.values()),
                            tokens=sum(v.tokens for v in components.values()),
                            ids_sha256=selection_ids_sha256(selection)),
    )
    lock = write_lock(mf.lock_path, lock)
    register_mixture(layout, lock)
    return Resolved(mf, layout, lock)
