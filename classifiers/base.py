"""The interface every scorer shares: a name, a version, labels, and batched scoring."""

import hashlib
import re
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np


def column_name(label: str) -> str:
    """A label as an SQL-friendly column name: `__label__non-toxic` -> `non_toxic`."""
    label = label.removeprefix("__label__")
    name = re.sub(r"[^0-9a-zA-Z]+", "_", label).strip("_").lower()
    return name if name and name[0].isalpha() else f"l_{name}"


def file_digest(*paths: str | Path, length: int = 16) -> str:
    """A short sha256 over the contents of model files, used as a scorer's version."""
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:length]


class Scorer(ABC):
    """A document scorer: `score(texts)` returns one row of per-label probabilities per text."""

    name: str
    version: str
    labels: list[str]
    batch_size: int = 256

    @abstractmethod
    def score(self, texts: list[str]) -> np.ndarray:
        """Scores of shape (len(texts), len(labels)), float32."""
