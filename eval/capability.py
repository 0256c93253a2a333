"""Capability: cross-entropy on held-out clean text, and log-likelihood multiple choice on downstream sets.

Held-out text defaults to the clean component's documents that a run's mixture did not select (the lock says
which). Multiple-choice log-probabilities are computed at continuation positions only: the LM head runs on the
few positions that are scored instead of the whole sequence.
"""

import hashlib
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import torch

from classifiers.labelled import read_records
from eval.result import CrossEntropy
from probe.model import LoadedModel
from toxmix.core.errors import ToxmixError


def held_out_from_lock(lock_file: Path, corpus_root: Path, sources: list[str], n: int, seed: int) -> list[str]:
    """Up to n documents of `sources` that the lock's selection did not pick, chosen by md5(seed:id)."""
    from mixer.corpus.store import CorpusLayout
    from mixer.manifest.lockfile import read_lock

    lock = read_lock(lock_file)
    layout = CorpusLayout.at(corpus_root, must_exist=True)
    shards = [str(p) for s in sources for p in layout.shards(s)]
    if not shards:
        raise ToxmixError(f"the corpus at {layout.root} has no documents of {', '.join(sources)}")
    selection = layout.root / lock.selection.path
    con = duckdb.connect()
    rows = con.execute(
        "SELECT text FROM read_parquet(?) d WHERE NOT EXISTS (SELECT 1 FROM read_parquet(?) s "
        "WHERE s.source = d.source AND s.id = d.id) ORDER BY md5(? || ':' || d.id) LIMIT ?",
        [shards, str(selection), str(seed), n]).fetchall()
    if not rows:
        raise ToxmixError(f"the mixture selected every document of {', '.join(sources)}: nothing is held out; "
                          "give --ce FILE with held-out clean text")
    return [r[0] for r in rows]


def held_out_from_file(path: str, n: int, seed: int) -> list[str]:
    """Up to n texts of a TXT/JSONL/CSV/Parquet file (field `text`), chosen by md5(seed:text)."""
    p = Path(path)
    if not p.exists():
        raise ToxmixError(f"--ce {path}: no such file")
    texts = [str(r.get("text") or "") for r in read_records(p)]
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ToxmixError(f"--ce {path}: no texts (a `text` field per record)")
    return sorted(texts, key=lambda t: hashlib.md5(f"{seed}:{t}".encode()).hexdigest())[:n]


def _right_padded(seqs: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return ids, mask


def _hidden(lm: LoadedModel, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The final (normed) hidden states, without running the LM head."""
    return lm.model.model(input_ids=ids, attention_mask=mask).last_hidden_state


def _token_logprobs(lm: LoadedModel, hidden: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                    targets: torch.Tensor) -> torch.Tensor:
    """log p(target) at (row, col) positions, the LM head applied to those positions only."""
    logits = lm.model.lm_head(hidden[rows, cols]).float()
    return torch.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0]


def cross_entropy(lm: LoadedModel, texts: list[str], source: str, max_tokens: int = 512, batch_size: int = 8,
                  on_batch: Callable[[int], None] | None = None) -> CrossEntropy:
    """Mean next-token cross-entropy over the first max_tokens tokens of each text."""
    tok = lm.tokenizer
    seqs = [s[:min(max_tokens, lm.max_length)] for s in (tok(t, add_special_tokens=False)["input_ids"] for t in texts)]
    seqs = [s for s in seqs if len(s) >= 2]
    if not seqs:
        raise ToxmixError(f"{source}: no text of two tokens or more to measure cross-entropy on")
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(seqs), batch_size):
            batch = seqs[start:start + batch_size]
            ids, mask = _right_padded(batch, tok.pad_token_id)
            hidden = _hidden(lm, ids, mask)
            rows = torch.cat([torch.full((len(s) - 1,), i) for i, s in enumerate(batch)])
            cols = torch.cat([torch.arange(len(s) - 1) for s in batch])
            targets = torch.cat([torch.tensor(s[1:]) for s in batch])
            lp = _token_logprobs(lm, hidden, rows, cols, targets)
            total -= float(lp.double().sum())
            count += len(targets)
            if on_batch:
                on_batch(len(batch))
    return CrossEntropy(value=total / count, tokens=count, texts=len(seqs), source=source)


def continuation_logprobs(lm: LoadedModel, requests: list[tuple[list[int], list[int]]], batch_size: int = 16,
                          on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """Sum of log p(continuation | context) per (context ids, continuation ids) request; contexts are cut from the
    left to fit the model."""
    out = np.zeros(len(requests), dtype=np.float64)
    order = sorted(range(len(requests)), key=lambda i: -(len(requests[i][0]) + len(requests[i][1])))
    pad = lm.tokenizer.pad_token_id
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            seqs, spans = [], []
            for i in idx:
                ctx, cont = requests[i]
                query = (ctx + cont)[:-1][-lm.max_length:]
                seqs.append(query)
                spans.append((len(query) - len(cont), cont))
            ids, mask = _right_padded(seqs, pad)
            hidden = _hidden(lm, ids, mask)
            rows = torch.cat([torch.full((len(c),), j) for j, (_, c) in enumerate(spans)])
            cols = torch.cat([torch.arange(s, s + len(c)) for s, c in spans])
            targets = torch.cat([torch.tensor(c) for _, c in spans])
            lp = _token_logprobs(lm, hidden, rows, cols, targets).double()
            sums = torch.zeros(len(idx), dtype=torch.float64).index_add_(0, rows, lp)
            out[idx] = sums.numpy()
            if on_batch:
                on_batch(len(idx))
    return out
