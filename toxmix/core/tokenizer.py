"""Loading a tokenizer by hub id or local path, and naming it by content hash."""

import hashlib
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from tokenizers import Encoding, Tokenizer

from toxmix.core.errors import ToxmixError
from toxmix.core.settings import DEFAULT_TOKENIZER, shared_path

# Offline copies of known hub tokenizers inside the shared folder.
_SHARED_COPIES = {DEFAULT_TOKENIZER: ("tokenizers", "gpt-neox-olmo-dolma-v1_5.json")}


@dataclass(frozen=True)
class TokenizerInfo:
    """What identifies a tokenizer: the name the user gave, its content hash, vocab, EOS and padding ids."""

    name: str
    sha256: str
    vocab_size: int
    eos_id: int
    pad_id: int


def tokenizer_file(spec: str) -> Path | None:
    """The local tokenizer.json a spec names (a path, a folder holding one, or a hub id with a shared copy), or
    None."""
    path = Path(spec).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
    if path.is_file():
        return path
    if spec in _SHARED_COPIES:
        copy = shared_path(*_SHARED_COPIES[spec])
        if copy.is_file():
            return copy
    return None


@lru_cache(maxsize=8)
def load_tokenizer(spec: str = DEFAULT_TOKENIZER) -> Tokenizer:
    """Load a tokenizer from a tokenizer.json path, a folder holding one, or a hub id."""
    local = tokenizer_file(spec)
    if local is not None:
        return Tokenizer.from_file(str(local))
    if not hub_reachable():
        # the hub clients retry for ~25 s before failing; offline, only their cache can answer
        from huggingface_hub import hf_hub_download

        try:
            return Tokenizer.from_file(hf_hub_download(spec, "tokenizer.json", local_files_only=True))
        except Exception:  # noqa: BLE001 - not cached, or not a repo id at all
            raise ToxmixError(f"cannot load tokenizer {spec!r}: not a local tokenizer.json, not in the hub cache, "
                              "and the hub is unreachable; pass a path to tokenizer.json or set TOXMIX_SHARED"
                              ) from None
    try:
        return Tokenizer.from_pretrained(spec)
    except Exception as e:  # noqa: BLE001 - the hub raises many types; the message is what matters
        raise ToxmixError(
            f"cannot load tokenizer {spec!r}: not a local tokenizer.json and the hub failed ({e.__class__.__name__}); "
            "pass a path to tokenizer.json or set TOXMIX_SHARED"
        ) from None


# Texts per tokenizer call in ingest and materialize (and the benchmarks' bare loops): one call per shard is ~30 %
# slower than batches this size (the encodings of ~10M tokens), and batches of 4,096 made ingest slower too.
ENCODE_BATCH = 1024

Tag = TypeVar("Tag")
Converted = TypeVar("Converted")


# While encoding ahead, the GIL changes hands within this long, not the interpreter's default 5 ms (see below).
ENCODE_SWITCH_INTERVAL_S = 0.0002
_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0


@contextmanager
def _short_switch_interval(seconds: float) -> Iterator[None]:
    """The interpreter's GIL switch interval at most `seconds` while any caller is inside; restored after the last."""
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(seconds, _switch_saved))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


def encode_ahead(tok: Tokenizer, batches: Iterable[tuple[Tag, list[str]]],
                 convert: Callable[[list[Encoding]], Converted]) -> Iterator[tuple[Tag, Converted]]:
    """Each batch's tag with `convert` of its texts' encodings (no special tokens), in the batches' order.

    The next batch is encoded and converted in a thread while the caller handles this one and the one after is
    read: the tokenizer releases the GIL, so the work around it no longer waits for it. Converting in that thread
    frees each batch's encodings before the next batch is encoded, so the tokenizer reuses their memory.
    """
    def work(texts: list[str]) -> Converted:
        return convert(tok.encode_batch_fast(texts, add_special_tokens=False))

    # The encoding thread needs the GIL to hand each batch's texts to the tokenizer and take its encodings back;
    # with the caller busy in Python it waits a whole switch interval each time while the tokenizer's threads
    # idle (its 20 calls for 20,000 documents took 0.71 s longer than bare at 5 ms, 0.16 s at 0.2 ms: BENCHMARKS.md).
    with _short_switch_interval(ENCODE_SWITCH_INTERVAL_S), \
            ThreadPoolExecutor(1, thread_name_prefix="toxmix-encode") as pool:
        pending = None
        for tag, texts in batches:
            future = pool.submit(work, texts)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = tag, future
        if pending is not None:
            yield pending[0], pending[1].result()


def hub_reachable() -> bool:
    """Whether the Hugging Face hub's host resolves (and HF_HUB_OFFLINE is not set)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def eos_token_id(tok: Tokenizer) -> int:
    """The end-of-text token id: <|endoftext|>, </s> or <eos>, whichever the vocabulary has."""
    for candidate in ("<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>"):
        tid = tok.token_to_id(candidate)
        if tid is not None:
            return tid
    raise ToxmixError("tokenizer has no end-of-text token (<|endoftext|>, </s> or <eos>)")


def pad_token_id(tok: Tokenizer) -> int:
    """The padding token id: <|padding|>, <pad> or [PAD], else the end-of-text id."""
    for candidate in ("<|padding|>", "<pad>", "[PAD]"):
        tid = tok.token_to_id(candidate)
        if tid is not None:
            return tid
    return eos_token_id(tok)


@lru_cache(maxsize=8)
def tokenizer_info(spec: str = DEFAULT_TOKENIZER) -> TokenizerInfo:
    """The identity of a tokenizer: its name, the sha256 of its canonical JSON, vocab size and EOS id."""
    tok = load_tokenizer(spec)
    digest = hashlib.sha256(tok.to_str().encode()).hexdigest()
    return TokenizerInfo(name=spec, sha256=digest, vocab_size=tok.get_vocab_size(), eos_id=eos_token_id(tok),
                         pad_id=pad_token_id(tok))
