"""fastText scorer: any supervised fastText model, by document or by sentence, the way Dolma feeds it."""

import re

import fasttext
import numpy as np

from toxmix.classifiers.base import Scorer, column_name
from toxmix.classifiers.hub import resolve_model_file
from toxmix.core.files import file_digest

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def fasttext_line(text: str) -> str:
    """Text as Dolma feeds fastText: newlines become spaces (fastText reads one line per example)."""
    return text.replace("\n", " ").strip()


def split_sentences(text: str) -> list[str]:
    """Split text into sentences at terminal punctuation and line breaks."""
    return [s for s in (p.strip() for p in _SENTENCE_END.split(text)) if s]


class FastTextScorer(Scorer):
    """Probabilities of every label of a fastText model; `level='sentence'` scores the worst sentence."""

    def __init__(self, model: str, name: str | None = None, level: str = "document", file: str = "model.bin",
                 batch_size: int = 1024):
        path = resolve_model_file(model, file)
        # fastText prints a warning on load for models saved by older versions; it is harmless
        self.model = fasttext.load_model(str(path))
        self.raw_labels = list(self.model.get_labels())
        self.labels = [column_name(lab) for lab in self.raw_labels]
        self._index = {lab: i for i, lab in enumerate(self.raw_labels)}
        if level not in ("document", "sentence"):
            raise ValueError(f"level must be document or sentence, not {level!r}")
        self.level = level
        self.name = name or f"fasttext_{column_name(path.stem)}"
        self.version = file_digest(path)
        self.batch_size = batch_size

    def _predict(self, lines: list[str]) -> np.ndarray:
        k = len(self.raw_labels)
        labels, probs = self.model.predict(lines, k=k)
        out = np.zeros((len(lines), k), dtype=np.float32)
        for row, (labs, ps) in enumerate(zip(labels, probs, strict=True)):
            for lab, p in zip(labs, ps, strict=True):
                out[row, self._index[lab]] = min(float(p), 1.0)
        return out

    def score(self, texts: list[str]) -> np.ndarray:
        if self.level == "document":
            return self._predict([fasttext_line(t) for t in texts])
        sentences, owners = [], []
        for i, text in enumerate(texts):
            parts = split_sentences(text) or [fasttext_line(text)]
            sentences.extend(parts)
            owners.extend([i] * len(parts))
        per_sentence = self._predict(sentences)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        np.maximum.at(out, np.asarray(owners), per_sentence)
        return out
