"""Checking a manifest against its corpus without selecting anything."""

from dataclasses import dataclass
from pathlib import Path

import duckdb

from mixer.catalog import open_catalog
from mixer.errors import ToxmixError
from mixer.manifest.budget import component_budgets
from mixer.manifest.compile import CompiledComponent, catalog_columns, compile_manifest
from mixer.manifest.schema import Manifest, load_manifest
from mixer.manifest.transforms import attribute_parts
from mixer.store import CorpusLayout
from mixer.tokenizer import tokenizer_info


@dataclass
class CheckedManifest:
    """A manifest that passed every check, with what the checks computed."""

    manifest: Manifest
    layout: CorpusLayout
    budgets: dict[str, int]
    compiled: list[CompiledComponent]
    tokenizer: dict
    con: duckdb.DuckDBPyConnection


def corpus_of(manifest: Manifest, base: Path) -> CorpusLayout:
    """The corpus a manifest names, resolved against the manifest's directory."""
    return CorpusLayout.at(base / Path(manifest.corpus).expanduser(), must_exist=True)


def check_tokenizer(manifest: Manifest, layout: CorpusLayout, sources: set[str]) -> dict:
    """Refuse a tokenizer whose token counts differ from the ones stored for the sources."""
    tok = tokenizer_info(manifest.tokenizer)
    for source in sorted(sources):
        stored = layout.read_source_meta(source)["tokenizer"]
        if stored["sha256"] != tok.sha256:
            raise ToxmixError(
                f"tokenizer: {manifest.tokenizer!r} does not match the corpus token counts of source {source!r} "
                f"(counted with {stored['name']!r}); use that tokenizer or re-ingest with --tokenizer"
            )
    return {"name": tok.name, "sha256": tok.sha256, "vocab_size": tok.vocab_size, "eos_id": tok.eos_id}


def check_manifest(path: str | Path) -> CheckedManifest:
    """Schema, budgets, sources, predicate columns, transform attributes and tokenizer; raises on the first."""
    manifest, base = load_manifest(path)
    budgets = component_budgets(manifest)
    layout = corpus_of(manifest, base)
    con = open_catalog(str(layout.root))
    compiled = compile_manifest(manifest, budgets, con, layout.sources())
    _, attributes = catalog_columns(con)
    for t in manifest.transforms:
        scorer, label = attribute_parts(t)
        if label not in attributes.get(scorer, []):
            raise ToxmixError(f"transforms.{t.kind}.attribute: unknown attribute {t.attribute!r}")
    tokenizer = check_tokenizer(manifest, layout, {s for c in manifest.components for s in c.sources})
    return CheckedManifest(manifest, layout, budgets, compiled, tokenizer, con)
