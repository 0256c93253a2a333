"""Held-out text of a mixture: documents of its clean component that its selection did not pick."""

import duckdb

from toxmix.core.errors import ToxmixError
from toxmix.mixer.manifest.lockfile import read_lock
from toxmix.mixer.manifest.schema import ManifestFile, as_manifest_file


def held_out_clean(manifest: "str | ManifestFile", n: int, seed: int) -> tuple[list[str], str]:
    """Up to n documents of the lock's clean component's sources that the selection did not pick, chosen by
    md5(seed:id); and a description of where they came from."""
    mf = as_manifest_file(manifest)
    if not mf.lock_path.is_file():
        raise ToxmixError(f"{mf.path} has no lock; run 'toxmix manifest resolve {mf.path}'")
    lock = read_lock(mf.lock_path)
    clean = lock.clean_component
    sources = lock.components[clean].sources
    layout = mf.corpus()
    shards = [str(p) for s in sources for p in layout.shards(s)]
    if not shards:
        raise ToxmixError(f"the corpus at {layout.root} has no documents of {', '.join(sources)}")
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT text FROM read_parquet(?) d WHERE NOT EXISTS (SELECT 1 FROM read_parquet(?) s "
            "WHERE s.source = d.source AND s.id = d.id) ORDER BY md5(? || ':' || d.id) LIMIT ?",
            [shards, str(layout.root / lock.selection.path), str(seed), n]).fetchall()
    if not rows:
        raise ToxmixError(f"the mixture selected every document of {', '.join(sources)}: nothing is held out; "
                          "give --ce FILE with held-out clean text")
    texts = [r[0] for r in rows]
    return texts, f"{lock.manifest.name}: {len(texts)} {'+'.join(sources)} documents of its clean component " \
                  f"'{clean}' it did not select"
