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


@dataclass
class CheckedManifest:
    """A manifest that passed every check, with what the checks computed."""

    manifest: Manifest
    layout: CorpusLayout
    budgets: dict[str, int]
    compiled: list[CompiledComponent]
    tokenizer: dict
    con: duckdb.DuckDBPyConnection


def check_manifest(path: str | Path) -> CheckedManifest:
    """Schema, budgets, sources, predicate columns, transform attributes and tokenizer; raises on the first."""
    from mixer.manifest.resolve import check_tokenizer, corpus_of

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
