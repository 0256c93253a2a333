"""The corpus store layout: documents and attributes kept apart, as in Dolma, keyed by (source, id)."""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from toxmix.core.errors import ToxmixError
from toxmix.core.files import safe_join

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


FIELDS_SCORER = "fields"  # the attribute table of kept fields, written by ingest (no scorer behind it)

def check_name(kind: str, name: str) -> str:
    """Refuse source and scorer names that are not plain identifiers (they become paths and SQL names)."""
    if not NAME_RE.match(name):
        raise ToxmixError(
            f"invalid {kind} name {name!r}: use a letter then letters, digits or '_' (at most 64 characters)"
        )
    return name


@dataclass(frozen=True)
class CorpusLayout:
    """Paths inside a corpus directory."""

    root: Path

    @classmethod
    def at(cls, root: str | Path, must_exist: bool = False) -> "CorpusLayout":
        """The layout of the corpus at root; with must_exist, refuse a folder that holds no corpus."""
        layout = cls(Path(root).expanduser().resolve())
        if must_exist and not layout.documents_root.is_dir():
            raise ToxmixError(
                f"no corpus at {layout.root}: it has no documents/ folder; create one with 'toxmix ingest'"
            )
        return layout

    @property
    def documents_root(self) -> Path:
        return self.root / "documents"

    @property
    def attributes_root(self) -> Path:
        return self.root / "attributes"

    def documents(self, source: str) -> Path:
        return safe_join(self.documents_root, source)

    def attributes(self, scorer: str, source: str) -> Path:
        return safe_join(self.attributes_root, scorer, source)

    def rejected(self, source: str) -> Path:
        return safe_join(self.root, "rejected", source)

    def staging(self, source: str) -> Path:
        return safe_join(self.root, "staging", source)

    def lock(self, kind: str, name: str) -> Path:
        """The one-writer lock of an output (`toxmix.core.locks`): an ingest source, a scorer table, a mixture."""
        return safe_join(self.root, "locks", f"{kind}-{name}.lock")

    def logs(self, *parts: str) -> Path:
        return safe_join(self.root, "logs", *parts)

    def source_meta(self, source: str) -> Path:
        return safe_join(self.root, "meta", "sources", f"{source}.json")

    def scorer_meta(self, scorer: str) -> Path:
        return safe_join(self.root, "meta", "scorers", f"{scorer}.json")

    def scorer_record(self, scorer: str) -> dict:
        """The sources a scorer has finished, each with the model version and labels that scored it ({} if none)."""
        path = self.scorer_meta(scorer)
        return json.loads(path.read_text()) if path.is_file() else {}

    @property
    def mixtures_root(self) -> Path:
        return self.root / "mixtures"

    def mixture_components(self, mixture: str) -> Path:
        """A resolved mixture's components, one row each (the `mixtures` view)."""
        return safe_join(self.mixtures_root, "components", f"{mixture}.parquet")

    def selection(self, mixture: str) -> Path:
        """The resolved selection of a mixture (one row per selected document and epoch)."""
        return safe_join(self.mixtures_root, f"{mixture}.parquet")

    def tokens(self, mixture: str) -> Path:
        """The default folder of a mixture's token files."""
        return safe_join(self.root, "tokens", mixture)

    def gathered(self, mixture: str) -> Path:
        """Materialize's texts of a mixture, gathered in one pass and partitioned by token shard (while it runs)."""
        return safe_join(self.root, "gathered", mixture)

    @property
    def spill_root(self) -> Path:
        """Where resolve's DuckDB spills sorts and windows that exceed its memory limit (`corpus_spill_dir`)."""
        return self.root / "spill"

    def sources(self) -> list[str]:
        """Sources whose ingest has completed."""
        meta = self.root / "meta" / "sources"
        return sorted(p.stem for p in meta.glob("*.json")) if meta.is_dir() else []

    def scorers(self) -> list[str]:
        """Attribute tables present in the store."""
        if not self.attributes_root.is_dir():
            return []
        return sorted(p.name for p in self.attributes_root.iterdir() if p.is_dir() and any(p.glob("*/*.parquet")))

    def incomplete_scorers(self) -> list[str]:
        """One line per attribute table that covers a source only in part (a `tag` that stopped before it
        finished): its scores are partial until `tag` runs again."""
        lines = []
        for scorer in self.scorers():
            if scorer == FIELDS_SCORER:
                continue
            finished = self.scorer_record(scorer)
            for source in self.sources():
                scored = len(list(self.attributes(scorer, source).glob("*.parquet")))
                shards = len(self.shards(source))
                if scored and (source not in finished or scored < shards):
                    lines.append(f"scorer {scorer} has not finished source {source} ({scored} of {shards} shards "
                                 f"written): its scores are partial; run 'toxmix tag' again to finish it")
        return lines

    def shards(self, source: str) -> list[Path]:
        """The document shards of a source, in name order."""
        return sorted(self.documents(source).glob("*.parquet"))

    def read_source_meta(self, source: str) -> dict:
        path = self.source_meta(source)
        if not path.is_file():
            known = ", ".join(self.sources()) or "none yet"
            raise ToxmixError(f"unknown source {source!r} in {self.root} (sources: {known})")
        return json.loads(path.read_text())
