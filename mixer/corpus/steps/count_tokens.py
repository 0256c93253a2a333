"""Counting tokens per document with a batched Hugging Face tokenizer."""

from itertools import islice

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from mixer.corpus.records import N_TOKENS, is_rejected
from toxmix.core.tokenizer import load_tokenizer


class CountTokens(PipelineStep):
    """Set each document's token count (content tokens, no special tokens) in batches."""

    name = "🔢 Count tokens"
    type = "🔢 - TOKENIZER"

    def __init__(self, tokenizer: str, batch_size: int = 1024):
        super().__init__()
        self.tokenizer = tokenizer
        self.batch_size = batch_size

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        tok = load_tokenizer(self.tokenizer)
        it = iter(data)
        while batch := list(islice(it, self.batch_size)):
            kept = [d for d in batch if not is_rejected(d)]
            with self.track_time(unit="batch"):
                encodings = tok.encode_batch_fast([d.text for d in kept], add_special_tokens=False)
                for doc, enc in zip(kept, encodings, strict=True):
                    doc.metadata[N_TOKENS] = len(enc)  # len(enc.ids) would build a list
            self.stat_update("tokens", value=sum(d.metadata[N_TOKENS] for d in kept))
            yield from batch
