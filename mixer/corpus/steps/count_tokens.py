"""Counting tokens per document with a batched Hugging Face tokenizer."""

from collections.abc import Iterator
from itertools import islice

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from tokenizers import Encoding

from toxmix.core.tokenizer import ENCODE_BATCH, encode_ahead, load_tokenizer
from toxmix.mixer.corpus.records import N_TOKENS, is_rejected


class CountTokens(PipelineStep):
    """Set each document's token count (content tokens, no special tokens) in batches."""

    name = "🔢 Count tokens"
    type = "🔢 - TOKENIZER"

    def __init__(self, tokenizer: str, batch_size: int = ENCODE_BATCH):
        super().__init__()
        self.tokenizer = tokenizer
        self.batch_size = batch_size

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        # a batch goes on to be staged while the next is counted
        for (batch, kept), counts in encode_ahead(load_tokenizer(self.tokenizer), self._batches(data), _lengths):
            for doc, n in zip(kept, counts, strict=True):
                doc.metadata[N_TOKENS] = n
            self.stat_update("tokens", value=sum(counts))
            yield from batch

    def _batches(self, data: DocumentsPipeline) -> Iterator[tuple[tuple[list[Document], list[Document]], list[str]]]:
        it = iter(data)
        while batch := list(islice(it, self.batch_size)):
            kept = [d for d in batch if not is_rejected(d)]
            yield (batch, kept), [d.text for d in kept]


def _lengths(encodings: list[Encoding]) -> list[int]:
    return [len(e) for e in encodings]  # len(e.ids) would build a list
