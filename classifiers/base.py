"""The interface every scorer shares: a name, a version, labels, and batched scoring."""

import json
import os
import re
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import xxhash


def column_name(label: str) -> str:
    """A label as an SQL-friendly column name: `__label__non-toxic` -> `non_toxic`."""
    label = label.removeprefix("__label__")
    name = re.sub(r"[^0-9a-zA-Z]+", "_", label).strip("_").lower()
    return name if name and name[0].isalpha() else f"l_{name}"


def _digest_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "toxmix" / "digests.json"


def file_digest(*paths: str | Path, length: int = 16) -> str:
    """A short xxh3-128 over the contents of model files, used as a scorer's version.

    Models can be GBs, so digests are cached by (path, size, mtime); a changed file gets a new digest.
    """
    keys = []
    for path in paths:
        st = os.stat(path)
        keys.append(f"{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}")
    key = "|".join(keys)
    cache_file = _digest_cache()
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return cache[key][:length]
    h = xxhash.xxh3_128()
    for path in paths:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 24), b""):
                h.update(chunk)
    cache[key] = h.hexdigest()
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(f".digests.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, cache_file)
    except OSError:
        pass  # a read-only home only costs the cache
    return cache[key][:length]


class Scorer(ABC):
    """A document scorer: `score(texts)` returns one row of per-label probabilities per text."""

    name: str
    version: str
    labels: list[str]
    batch_size: int = 256

    @abstractmethod
    def score(self, texts: list[str]) -> np.ndarray:
        """Scores of shape (len(texts), len(labels)), float32."""
