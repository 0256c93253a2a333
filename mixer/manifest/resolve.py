"""`toxmix manifest resolve`: compile, select to budget in hash order, lock, and register the mixture."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from toxmix.core.errors import ToxmixError
from toxmix.core.files import atomic_path
from toxmix.core.locks import one_writer
from toxmix.mixer.corpus.catalog import DEFAULT_MEMORY_LIMIT, DEFAULT_SPILL_LIMIT, corpus_spill_dir, sql_literal
from toxmix.mixer.corpus.store import CorpusLayout
from toxmix.mixer.manifest.check import CheckedManifest, check_manifest
from toxmix.mixer.manifest.compile import HASH_SPEC, CompiledComponent
from toxmix.mixer.manifest.lockfile import (
    LOCK_VERSION,
    ComponentLock,
    Lock,
    ManifestRef,
    Selection,
    corpus_fingerprint,
    toxmix_version,
    update_ids_sha256,
    write_lock,
)
from toxmix.mixer.manifest.mixtures import register_mixture
from toxmix.mixer.manifest.outputs import claim_outputs
from toxmix.mixer.manifest.schema import Manifest, ManifestFile, as_manifest_file


@dataclass
class Resolved:
    """A resolved manifest: the manifest file, its corpus, and the lock written for it."""

    file: ManifestFile
    layout: CorpusLayout
    lock: Lock

    @property
    def lock_file(self) -> Path:
        return self.file.lock_path


def check_feasible(con: duckdb.DuckDBPyConnection, manifest: Manifest, compiled: list[CompiledComponent],
                   candidates: list[str] | None = None) -> dict:
    """Refuse budgets above what the candidates hold (times max_epochs); return (docs, tokens) per component.

    `candidates`: a query of each component's candidates, where they were saved already (default: its SQL)."""
    queries = candidates or [c.candidates_sql for c in compiled]
    union = " UNION ALL ".join(
        f"SELECT {sql_literal(c.name)} AS component, count(*) AS docs, coalesce(sum(tokens), 0) AS tokens "
        f"FROM ({q})" for c, q in zip(compiled, queries, strict=True))
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


def write_selection(batches: pa.RecordBatchReader, path: Path) -> tuple[str, dict[str, tuple[int, int, int]]]:
    """Stream the hash-ordered selection to Parquet with its position column, in one pass that also hashes the
    ids and counts (docs, tokens, epochs used) per component; the file appears whole or not at all."""
    digest = hashlib.sha256()
    counts: dict[str, list] = {}
    pos = 0
    with atomic_path(path) as tmp:
        schema = batches.schema.append(pa.field("pos", pa.int64()))
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for batch in batches:
                n = batch.num_rows
                batch = pa.RecordBatch.from_arrays([*batch.columns, pa.array(np.arange(pos, pos + n))], schema=schema)
                writer.write_batch(batch)
                update_ids_sha256(digest, batch)
                grouped = pa.Table.from_batches([batch]).group_by("component").aggregate(
                    [("tokens", "sum"), ("tokens", "count"), ("epoch", "distinct")])
                for comp, tokens, docs, epochs in zip(*(grouped.column(c).to_pylist() for c in (
                        "component", "tokens_sum", "tokens_count", "epoch_distinct")), strict=True):
                    entry = counts.setdefault(comp, [0, 0, set()])
                    entry[0] += docs
                    entry[1] += tokens
                    entry[2].update(epochs)
                pos += n
    return digest.hexdigest(), {c: (d, t, len(e)) for c, (d, t, e) in counts.items()}


def mixture_writer(mf: ManifestFile, wait: bool = False):
    """The one-writer lock of a mixture's selection, lock file and token files."""
    return one_writer(mf.corpus().lock("mixture", mf.name), f"mixture {mf.name!r}", wait)


def resolve(manifest: str | Path | ManifestFile, wait: bool = False, memory_limit: str = DEFAULT_MEMORY_LIMIT,
            spill_limit: str = DEFAULT_SPILL_LIMIT) -> Resolved:
    """Resolve a manifest into a selection and a lock; the same inputs always give the same lock.

    DuckDB works within `memory_limit` and spills what does not fit (up to `spill_limit`) to a folder of its own
    under `CORPUS/spill/`. One writer per mixture: another resolve or materialize of it is refused, or waited for
    with `wait`.
    """
    mf = as_manifest_file(manifest)
    with mixture_writer(mf, wait):
        return resolve_unlocked(mf, memory_limit, spill_limit)


def resolve_unlocked(mf: ManifestFile, memory_limit: str = DEFAULT_MEMORY_LIMIT,
                     spill_limit: str = DEFAULT_SPILL_LIMIT) -> Resolved:
    """`resolve`, for a caller that already holds the mixture's writer lock."""
    with corpus_spill_dir(mf.corpus()) as spill:
        checked = check_manifest(mf, memory_limit, spill_limit, spill)
        try:
            return _resolve(checked)
        except duckdb.OutOfMemoryException as e:
            raise ToxmixError(f"resolve ran out of its memory limit {memory_limit} and spill limit {spill_limit} "
                              f"({str(e).strip().splitlines()[0]}); raise --memory-limit or --spill-limit") from None
        finally:
            checked.con.close()


def _resolve(checked: CheckedManifest) -> Resolved:
    mf, layout, compiled, con = checked.file, checked.layout, checked.compiled, checked.con
    spec = mf.manifest
    used_sources = {s for c in spec.components for s in c.sources}
    saved = [f"SELECT * FROM candidates_{i}" for i in range(len(compiled))]
    for i, c in enumerate(compiled):  # joined once, then counted and selected from
        con.execute(f"CREATE TEMP TABLE candidates_{i} AS {c.candidates_sql}")
    available = check_feasible(con, spec, compiled, saved)
    claim_outputs(mf, layout)

    selection = layout.selection(spec.name)
    union = " UNION ALL ".join(f"({c.selection_from(q)})" for c, q in zip(compiled, saved, strict=True))
    ordered = con.sql(f"SELECT {sql_literal(spec.name)} AS mixture, component, source, id, tokens, epoch "
                      f"FROM ({union}) ORDER BY h")  # the key orders the file; nothing reads it back
    ids_sha256, per_component = write_selection(ordered.to_arrow_reader(1 << 17), selection)
    con.close()  # before the mixture is registered: the connection has the catalog file attached

    read_files = [p for s in used_sources for p in layout.shards(s)]
    for comp, c in zip(spec.components, compiled, strict=True):
        read_files += [p for t in c.tables for s in comp.sources for p in layout.attributes(t, s).glob("*.parquet")]
    components = {}
    for comp, c in zip(spec.components, compiled, strict=True):
        docs, tokens, epochs = per_component.get(c.name, (0, 0, 0))
        components[c.name] = ComponentLock(
            sources=comp.sources, where=comp.where, role="clean" if comp.name == spec.clean_component.name else None,
            budget=c.budget, docs=docs, tokens=tokens, epochs_used=epochs,
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
                            ids_sha256=ids_sha256),
    )
    lock = lock.sealed()
    register_mixture(layout, lock)  # first: a lock file is written only once the corpus lists its mixture
    lock = write_lock(mf.lock_path, lock)
    return Resolved(mf, layout, lock)
