"""A tiny causal transformer whose weights are stacked over seeds, so every seed trains in one batched model.

Each parameter has a leading seed axis and every matmul is an einsum over it, so S seeds cost about as much
Python overhead as one. Seeds share nothing: their losses are summed, and Adam is elementwise, so each seed's
update is the one it would get alone.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ToyModelConfig:
    """The study's toy transformer: 4 layers, a 4-dimensional residual stream, 2 heads, MLP width 16."""

    vocab: int = 12
    d_model: int = 4
    n_layers: int = 4
    n_heads: int = 2
    d_mlp: int = 16
    seq_len: int = 16


def _param(*shape: int, scale: float, gen: torch.Generator) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape, generator=gen) * scale)


class StackedTransformer(nn.Module):
    """S independent transformers (pre-LayerNorm, learned positions, untied unembedding)."""

    def __init__(self, cfg: ToyModelConfig, seeds: list[int]):
        super().__init__()
        self.cfg = cfg
        s, d, L = len(seeds), cfg.d_model, cfg.n_layers
        gens = [torch.Generator().manual_seed(seed) for seed in seeds]

        def stacked(*shape: int, scale: float) -> nn.Parameter:
            return nn.Parameter(torch.stack([_param(*shape, scale=scale, gen=g).data for g in gens]))

        self.embed = stacked(cfg.vocab, d, scale=1.0)
        self.pos = stacked(cfg.seq_len, d, scale=0.1)
        self.w_qkv = stacked(L, d, 3 * d, scale=1 / math.sqrt(d))
        self.w_o = stacked(L, d, d, scale=1 / math.sqrt(d) / math.sqrt(2 * L))
        self.w_in = stacked(L, d, cfg.d_mlp, scale=1 / math.sqrt(d))
        self.w_out = stacked(L, cfg.d_mlp, d, scale=1 / math.sqrt(cfg.d_mlp) / math.sqrt(2 * L))
        self.ln_gain = nn.Parameter(torch.ones(s, 2 * L + 1, d))
        self.unembed = stacked(d, cfg.vocab, scale=1 / math.sqrt(d))

    def _ln(self, x: torch.Tensor, i: int) -> torch.Tensor:
        return nn.functional.layer_norm(x, (x.shape[-1],)) * self.ln_gain[:, i, None, None, :]

    def residual(self, tokens: torch.Tensor) -> torch.Tensor:
        """The final residual stream [S, B, T, d] for tokens [S, B, T]."""
        cfg = self.cfg
        s, b, t = tokens.shape
        x = torch.gather(self.embed[:, None].expand(s, b, cfg.vocab, cfg.d_model), 2,
                         tokens[..., None].expand(s, b, t, cfg.d_model)) + self.pos[:, None, :t]
        hd = cfg.d_model // cfg.n_heads
        for layer in range(cfg.n_layers):
            h = self._ln(x, 2 * layer)
            q, k, v = torch.einsum("sbtd,sde->sbte", h, self.w_qkv[:, layer]).split(cfg.d_model, dim=-1)
            q, k, v = (z.reshape(s * b, t, cfg.n_heads, hd).transpose(1, 2) for z in (q, k, v))
            o = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            o = o.transpose(1, 2).reshape(s, b, t, cfg.d_model)
            x = x + torch.einsum("sbtd,sde->sbte", o, self.w_o[:, layer])
            h = self._ln(x, 2 * layer + 1)
            h = torch.nn.functional.gelu(torch.einsum("sbtd,sdm->sbtm", h, self.w_in[:, layer]))
            x = x + torch.einsum("sbtm,smd->sbtd", h, self.w_out[:, layer])
        return x

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits [S, B, T, vocab]."""
        x = self._ln(self.residual(tokens), 2 * self.cfg.n_layers)
        return torch.einsum("sbtd,sdv->sbtv", x, self.unembed)
