"""Capability: cross-entropy on held-out clean text, and log-likelihood multiple choice on downstream sets.

Held-out text defaults to the clean component's documents that a run's mixture did not select
(`toxmix.mixer.manifest.heldout`). Multiple-choice log-probabilities are computed at continuation positions only:
the LM head runs on the few positions that are scored instead of the whole sequence.
"""

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from toxmix.core.datasets import read_records
from toxmix.core.errors import ToxmixError
from toxmix.core.models import LoadedModel
from toxmix.eval.result import CrossEntropy


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


def _logprobs(lm: LoadedModel, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) from hidden states [N, d]: the LM head runs on these positions only."""
    logits = lm.model.lm_head(hidden).float()
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
            lp = _logprobs(lm, hidden[rows, cols], targets)
            total -= float(lp.double().sum())
            count += len(targets)
            if on_batch:
                on_batch(len(batch))
    return CrossEntropy(value=total / count, tokens=count, texts=len(seqs), source=source)


def continuation_logprobs(lm: LoadedModel, requests: list[tuple[list[int], list[int]]], batch_size: int = 16,
                          on_batch: Callable[[int], None] | None = None, share: bool | None = None) -> np.ndarray:
    """Sum of log p(continuation | context) per (context ids, continuation ids) request; contexts are cut from the
    left to fit the model.

    Two ways, the cheaper in padded positions chosen unless `share` says: each request as one sequence, batched by
    length; or each shared context (a multiple-choice item's choices) run once, its KV cache copied to each of
    its continuations. Sharing wins when contexts are long and answers short (ARC, HellaSwag), not for PIQA's long
    answers of varied length.
    """
    for ctx, cont in requests:
        if not ctx or not cont:
            raise ToxmixError("a multiple-choice request needs a non-empty context and continuation")
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (ctx, _) in enumerate(requests):
        groups.setdefault(tuple(ctx), []).append(i)
    items = sorted(groups.items(), key=lambda kv: -len(kv[0]))
    order = sorted(range(len(requests)), key=lambda i: -(len(requests[i][0]) + len(requests[i][1])))
    if share is None:
        share = _shared_cost(requests, items, batch_size) < _flat_cost(requests, order, batch_size)
    with torch.inference_mode():
        if share:
            return _shared(lm, requests, items, batch_size, on_batch)
        return _flat(lm, requests, order, batch_size, on_batch)


def _flat_cost(requests, order: list[int], batch_size: int) -> int:
    """Padded positions when every request is its own sequence."""
    return sum(len(b) * max(len(requests[i][0]) + len(requests[i][1]) - 1 for i in b)
               for b in (order[s:s + batch_size] for s in range(0, len(order), batch_size)))


def _shared_cost(requests, items, batch_size: int) -> int:
    """Padded positions when each context runs once and its continuations on top."""
    cost = 0
    for s in range(0, len(items), batch_size):
        batch = items[s:s + batch_size]
        members = [i for _, ms in batch for i in ms]
        cost += len(batch) * max(len(ctx) for ctx, _ in batch)
        cost += len(members) * max(len(requests[i][1]) - 1 for i in members)
    return cost


def _flat(lm: LoadedModel, requests, order: list[int], batch_size: int, on_batch) -> np.ndarray:
    out = np.zeros(len(requests), dtype=np.float64)
    pad = lm.tokenizer.pad_token_id
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
        lp = _logprobs(lm, hidden[rows, cols], targets).double()
        out[idx] = torch.zeros(len(idx), dtype=torch.float64).index_add_(0, rows, lp).numpy()
        if on_batch:
            on_batch(len(idx))
    return out


def _shared(lm: LoadedModel, requests, items, batch_size: int, on_batch) -> np.ndarray:
    out = np.zeros(len(requests), dtype=np.float64)
    pad = lm.tokenizer.pad_token_id
    for start in range(0, len(items), batch_size):
        batch = items[start:start + batch_size]
        longest = max(len(requests[i][1]) for _, members in batch for i in members)
        room = lm.max_length - longest + 1
        contexts = [list(ctx[-room:]) for ctx, _ in batch]
        width = max(len(c) for c in contexts)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for g, c in enumerate(contexts):
            ids[g, width - len(c):] = torch.tensor(c)
            mask[g, width - len(c):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        first = lm.model.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        index = torch.tensor([g for g, (_, members) in enumerate(batch) for _ in members])
        members = [i for _, ms in batch for i in ms]
        conts = [requests[i][1] for i in members]
        # the first continuation token is predicted by the context's last hidden state
        sums = _logprobs(lm, first.last_hidden_state[index, -1], torch.tensor([c[0] for c in conts])).double()
        rest = [c[1:] for c in conts]
        if any(rest):
            cache = first.cache
            cache.reorder_cache(index)  # one copy of its context's cache per continuation
            cont_ids, cont_mask = _right_padded([c[:-1] for c in conts], pad)
            full_mask = torch.cat([mask[index], cont_mask], dim=1)
            cont_pos = positions[index, -1:] + 1 + torch.arange(cont_ids.shape[1])
            hidden = lm.model.model(input_ids=cont_ids, attention_mask=full_mask, position_ids=cont_pos,
                                    cache=cache, use_cache=True).last_hidden_state
            rows = torch.cat([torch.full((len(r),), j) for j, r in enumerate(rest)])
            cols = torch.cat([torch.arange(len(r)) for r in rest])
            targets = torch.cat([torch.tensor(r, dtype=torch.long) for r in rest])
            sums = sums.index_add(0, rows, _logprobs(lm, hidden[rows, cols], targets).double())
        out[members] = sums.numpy()
        if on_batch:
            on_batch(len(members))
    return out
