"""The interface every scorer shares: a name, a version, labels, and batched scoring."""

import re
from abc import ABC, abstractmethod

import numpy as np


def column_name(label: str) -> str:
    """A label as an SQL-friendly column name: `__label__non-toxic` -> `non_toxic`."""
    label = label.removeprefix("__label__")
    name = re.sub(r"[^0-9a-zA-Z]+", "_", label).strip("_").lower()
    return name if name and name[0].isalpha() else f"l_{name}"


class Scorer(ABC):
    """A document scorer: `score(texts)` returns one row of per-label probabilities per text."""

    name: str
    version: str
    labels: list[str]
    batch_size: int = 256

    @abstractmethod
    def score(self, texts: list[str]) -> np.ndarray:
        """Scores of shape (len(texts), len(labels)), float32."""
