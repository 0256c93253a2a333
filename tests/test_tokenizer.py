"""Encoding ahead: the batches in order, the bare call's token counts, and the GIL switch interval put back."""

import sys

import pytest

from toxmix.core.tokenizer import ENCODE_SWITCH_INTERVAL_S, encode_ahead, load_tokenizer


def test_encode_ahead_gives_the_bare_calls_counts_in_order_and_restores_the_switch_interval():
    tok = load_tokenizer()
    texts = [f"document {i} says hello " * (i % 7 + 1) for i in range(50)]
    batches = [(first, texts[first:first + 8]) for first in range(0, len(texts), 8)]
    before = sys.getswitchinterval()
    seen = []
    for tag, counts in encode_ahead(tok, batches, lambda encodings: [len(e) for e in encodings]):
        assert sys.getswitchinterval() == pytest.approx(ENCODE_SWITCH_INTERVAL_S)
        seen.append((tag, counts))
    assert [tag for tag, _ in seen] == [first for first, _ in batches]
    assert [n for _, counts in seen for n in counts] == [
        len(e) for e in tok.encode_batch_fast(texts, add_special_tokens=False)]
    assert sys.getswitchinterval() == pytest.approx(before)

    abandoned = encode_ahead(tok, batches, len)
    next(abandoned)
    assert sys.getswitchinterval() < before
    abandoned.close()  # what a caller that stops early (an error, a limit) does to it
    assert sys.getswitchinterval() == pytest.approx(before)
