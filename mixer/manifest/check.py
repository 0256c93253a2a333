"""Checking a manifest against its corpus without selecting anything."""

from dataclasses import dataclass
from pathlib import Path

import duckdb

from toxmix.core.errors import ToxmixError
from toxmix.core.tokenizer import tokenizer_info
from toxmix.mixer.corpus.catalog import DEFAULT_MEMORY_LIMIT, DEFAULT_SPILL_LIMIT, open_catalog
from toxmix.mixer.corpus.store import CorpusLayout
from toxmix.mixer.manifest.budget import component_budgets
from toxmix.mixer.manifest.compile import CompiledComponent, catalog_columns, compile_manifest
from toxmix.mixer.manifest.lockfile import TokenizerRef
from toxmix.mixer.manifest.schema import Manifest, ManifestFile, as_manifest_file
from toxmix.mixer.manifest.transforms import attribute_parts


@dataclass
class CheckedManifest:
    """A manifest that passed every check, with what the checks computed."""

    file: ManifestFile
    layout: CorpusLayout
    budgets: dict[str, int]
    compiled: list[CompiledComponent]
    tokenizer: TokenizerRef
    con: duckdb.DuckDBPyConnection


def check_tokenizer(manifest: Manifest, layout: CorpusLayout, sources: set[str]) -> TokenizerRef:
    """Refuse a tokenizer whose token counts differ from the ones stored for the sources."""
    tok = tokenizer_info(manifest.tokenizer)
    for source in sorted(sources):
        stored = layout.read_source_meta(source)["tokenizer"]
        if stored["sha256"] != tok.sha256:
            raise ToxmixError(
                f"tokenizer: {manifest.tokenizer!r} does not match the corpus token counts of source {source!r} "
                f"(counted with {stored['name']!r}); use that tokenizer or re-ingest with --tokenizer"
            )
    return TokenizerRef(name=tok.name, sha256=tok.sha256, vocab_size=tok.vocab_size, eos_id=tok.eos_id,
                        pad_id=tok.pad_id)


def check_manifest(path: str | Path | ManifestFile, memory_limit: str = DEFAULT_MEMORY_LIMIT,
                   spill_limit: str = DEFAULT_SPILL_LIMIT, spill_dir: str | None = None) -> CheckedManifest:
    """Schema, budgets, sources, predicate columns, transform attributes and tokenizer; raises on the first.

    The connection it returns has the given memory and spill limits and spill folder."""
    mf = as_manifest_file(path)
    manifest = mf.manifest
    budgets = component_budgets(manifest)
    layout = mf.corpus()
    con = open_catalog(str(layout.root), memory_limit, spill_limit, spill_dir)
    compiled = compile_manifest(manifest, budgets, con, layout.sources())
    for comp, c in zip(manifest.components, compiled, strict=True):
        try:  # binding finds unknown functions and type errors now, not halfway through resolve
            con.execute(f"EXPLAIN {c.candidates_sql}")
        except duckdb.Error as e:
            where = f"components.{c.name}.where" if comp.where else f"components.{c.name}"
            raise ToxmixError(f"{where}: {str(e).strip().splitlines()[0]}") from None
    _, attributes = catalog_columns(con)
    for t in manifest.transforms:
        scorer, label = attribute_parts(t)
        if label not in attributes.get(scorer, []):
            raise ToxmixError(f"transforms.{t.kind}.attribute: unknown attribute {t.attribute!r}")
    tokenizer = check_tokenizer(manifest, layout, {s for c in manifest.components for s in c.sources})
    return CheckedManifest(mf, layout, budgets, compiled, tokenizer, con)
