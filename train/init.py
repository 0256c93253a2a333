"""OLMo-1's "mitchell" initialization (allenai/OLMo, `init_fn: mitchell`), which OLMo-core does not offer.

Every weight is drawn from a normal distribution truncated at 3 standard deviations, with std = 1/sqrt(d_in) of its
layer (the embedding: 1/sqrt(d_model)); the two output projections of block i (attention's w_out and the MLP's w2)
are further divided by sqrt(2 * (i + 1)).
"""

import math
import re

import torch

_BLOCK = re.compile(r"^blocks\.(\d+)\.(attention|feed_forward)\.(w_q|w_k|w_v|w_out|w1|w2|w3)\.weight$")


def mitchell_std(name: str, shape: tuple[int, ...], d_model: int) -> float | None:
    """The std OLMo-1 draws a parameter from (None for parameters it does not initialize this way: norms)."""
    if name == "embeddings.weight":
        return 1.0 / math.sqrt(d_model)
    m = _BLOCK.match(name)
    if m is None:
        return None
    std = 1.0 / math.sqrt(shape[1])  # d_in: a Linear's weight is [out, in]
    if m.group(3) in ("w_out", "w2"):
        std /= math.sqrt(2 * (int(m.group(1)) + 1))
    return std


@torch.no_grad()
def mitchell_init(model: torch.nn.Module, d_model: int, seed: int) -> int:
    """Re-initialize `model` in place as OLMo-1 does; the same on every rank (one generator, the run's seed), and
    for a sharded model each rank keeps its shard of the full draw. Returns how many tensors it drew."""
    from olmo_core.distributed.utils import distribute_like, get_local_tensor
    from torch.distributed.tensor import DTensor

    generator = torch.Generator().manual_seed(seed)
    drawn = 0
    for name, param in model.named_parameters():
        std = mitchell_std(name, tuple(param.shape), d_model)
        if std is None:
            continue
        full = torch.empty(param.shape, dtype=torch.float32)
        torch.nn.init.trunc_normal_(full, mean=0.0, std=std, a=-3 * std, b=3 * std, generator=generator)
        if isinstance(param, DTensor):
            get_local_tensor(param).copy_(get_local_tensor(distribute_like(param, full.to(param.device))))
        else:
            param.copy_(full.to(param.device, param.dtype))
        drawn += 1
    return drawn
