"""Per-head activations at the last real token of each text, captured from the input of every o_proj.

Texts are batched with left padding, so position -1 is the last real token of every row; only the decoder
runs (`model.model`), skipping the vocabulary projection. Results are cached on disk keyed by the model's
identity, the data digest and the length limit.
"""

import hashlib
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from toxmix.core.files import atomic_path
from toxmix.core.models import LoadedModel


@contextmanager
def capture_last_token(lm: LoadedModel, sink: list[list[torch.Tensor]]):
    """While active, append each layer's o_proj input at the last position ([B, H*Dh]) to sink[layer]."""
    def hook(layer: int):
        def pre_hook(_module, args):
            sink[layer].append(args[0][:, -1, :].detach().to(torch.float32))
        return pre_hook

    handles = [m.register_forward_pre_hook(hook(i)) for i, m in enumerate(lm.o_projs)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def encode(lm: LoadedModel, texts: list[str], max_length: int):
    """Left-padded, left-truncated input ids and attention mask for a batch of texts."""
    return lm.tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length)


def count_truncated(lm: LoadedModel, texts: list[str], max_length: int) -> int:
    """How many texts are longer than max_length tokens (they keep their last max_length tokens)."""
    lengths = lm.tokenizer(texts, add_special_tokens=True)["input_ids"]
    return sum(len(ids) > max_length for ids in lengths)


@torch.inference_mode()
def collect(lm: LoadedModel, texts: list[str], batch_size: int = 32, max_length: int | None = None,
            on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """Head outputs at the last real token: float32 array [N, layers, heads, head_dim]."""
    ident = lm.identity
    max_length = max_length or lm.max_length
    out = np.empty((len(texts), ident.n_layers, ident.n_heads * ident.head_dim), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths together: less padding
    for start in range(0, len(texts), batch_size):
        idx = order[start:start + batch_size]
        batch = encode(lm, [texts[i] for i in idx], max_length)
        sink: list[list[torch.Tensor]] = [[] for _ in range(ident.n_layers)]
        with capture_last_token(lm, sink):
            lm.model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        out[idx] = torch.stack([s[0] for s in sink], dim=1).numpy()
        if on_batch:
            on_batch(len(idx))
    return out.reshape(len(texts), ident.n_layers, ident.n_heads, ident.head_dim)


def cache_key(lm: LoadedModel, data_digest: str, max_length: int) -> str:
    """The cache file stem for a model, a data set and a length limit."""
    raw = f"{lm.identity.model_dump_json()}|{data_digest}|{max_length}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def cached_collect(lm: LoadedModel, texts: list[str], data_digest: str, cache_dir: Path, batch_size: int = 32,
                   max_length: int | None = None, on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """`collect`, reusing `cache_dir/activations-<key>.npy` when the same model has seen the same data."""
    max_length = max_length or lm.max_length
    path = Path(cache_dir) / f"activations-{cache_key(lm, data_digest, max_length)}.npy"
    ident = lm.identity
    shape = (len(texts), ident.n_layers, ident.n_heads, ident.head_dim)
    if path.is_file():
        cached = np.load(path, mmap_mode="r")
        if cached.shape == shape and cached.dtype == np.float32:
            return np.asarray(cached)
    acts = collect(lm, texts, batch_size, max_length, on_batch)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, acts)
    return acts
