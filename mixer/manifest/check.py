"""Checking a manifest against its corpus without selecting anything."""

from pathlib import Path

from mixer.catalog import open_catalog
from mixer.errors import ToxmixError
from mixer.manifest.budget import component_budgets
from mixer.manifest.compile import catalog_columns, compile_manifest
from mixer.manifest.schema import Manifest, load_manifest
from mixer.manifest.transforms import attribute_parts


def check_manifest(path: str | Path) -> Manifest:
    """Schema, budgets, sources, predicate columns, transform attributes and tokenizer; raises on the first."""
    from mixer.manifest.resolve import check_tokenizer, corpus_of

    manifest, base = load_manifest(path)
    budgets = component_budgets(manifest)
    layout = corpus_of(manifest, base)
    sources = layout.sources()
    con = open_catalog(str(layout.root))
    compile_manifest(manifest, budgets, con, sources)
    _, attributes = catalog_columns(con)
    for t in manifest.transforms:
        scorer, label = attribute_parts(t)
        if label not in attributes.get(scorer, []):
            raise ToxmixError(f"transforms.{t.kind}.attribute: unknown attribute {t.attribute!r}")
    check_tokenizer(manifest, layout, {s for c in manifest.components for s in c.sources})
    return manifest
