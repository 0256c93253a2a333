"""Model and optimizer presets: tiny and small for CPUs, the study's Olmo-1B, and OLMo-core's OLMo-2 1B.

`olmo1-1b` is the OLMo-1 architecture, expressed in OLMo-core: pre-norm blocks with non-parametric
LayerNorm, SwiGLU, RoPE (theta 10,000), tied embeddings and no biases. tiny and small use the same
architecture scaled down, so CPU runs exercise the study's code path.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict

from toxmix.core.errors import ToxmixError


class Preset(BaseModel):
    """Architecture and optimization settings of a preset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    arch: Literal["olmo1", "olmo2"]
    d_model: int
    n_layers: int
    n_heads: int
    hidden_size: int
    rope_theta: int
    sequence_length: int
    global_batch_sequences: int
    rank_microbatch_sequences: int
    lr: float
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1
    max_grad_norm: float = 1.0
    warmup_steps: int = 2000
    final_lr_fraction: float = 0.1
    warmup_start_fraction: float = 0.0  # the warm-up starts at this fraction of lr (OLMo-1: 0.1)
    eps: float = 1e-8  # AdamW's epsilon (OLMo-1: 1e-5)
    init: Literal["normal", "mitchell"] = "normal"  # OLMo-core's truncated normal (std 0.02), or OLMo-1's
    description: str = ""

    @property
    def global_batch_tokens(self) -> int:
        return self.global_batch_sequences * self.sequence_length


PRESETS = {
    p.name: p
    for p in (
        Preset(name="tiny", arch="olmo1", d_model=16, n_layers=2, n_heads=2, hidden_size=64, rope_theta=10_000,
               sequence_length=128, global_batch_sequences=16, rank_microbatch_sequences=16, lr=1e-2,
               warmup_steps=20, description="under 1M parameters, for CPUs (OLMo-1 architecture)"),
        Preset(name="small", arch="olmo1", d_model=160, n_layers=4, n_heads=5, hidden_size=640, rope_theta=10_000,
               sequence_length=256, global_batch_sequences=32, rank_microbatch_sequences=16, lr=3e-3,
               warmup_steps=50, description="about 10M parameters, for CPUs (OLMo-1 architecture)"),
        Preset(name="olmo1-1b", arch="olmo1", d_model=2048, n_layers=16, n_heads=16, hidden_size=8192,
               rope_theta=10_000, sequence_length=2048, global_batch_sequences=2048, rank_microbatch_sequences=8,
               lr=4e-4, warmup_steps=2000, warmup_start_fraction=0.1, eps=1e-5, init="mitchell",
               description="the study's Olmo-1B (OLMo-1), 1,176,764,416 parameters"),
        Preset(name="olmo2-1b", arch="olmo2", d_model=2048, n_layers=16, n_heads=16, hidden_size=8192,
               rope_theta=500_000, sequence_length=2048, global_batch_sequences=2048, rank_microbatch_sequences=8,
               lr=4e-4, warmup_steps=2000, description="OLMo-core's own OLMo-2 1B"),
    )
}


def get_preset(name: str) -> Preset:
    """A preset by name; the error lists the presets."""
    if name not in PRESETS:
        listing = "; ".join(f"{p.name} ({p.description})" for p in PRESETS.values())
        raise ToxmixError(f"unknown preset {name!r}; presets: {listing}")
    return PRESETS[name]


def model_config(preset: Preset, vocab_size: int, attention: str = "torch"):
    """The OLMo-core TransformerConfig of a preset for a (padded) vocabulary size, with the attention kernels named
    (`torch`: PyTorch's SDPA, everywhere; `flash_2`: the flash-attn package, on NVIDIA GPUs)."""
    from olmo_core.nn.attention import AttentionBackendName, AttentionConfig
    from olmo_core.nn.feed_forward import FeedForwardConfig
    from olmo_core.nn.layer_norm import LayerNormConfig, LayerNormType
    from olmo_core.nn.lm_head import LMHeadConfig
    from olmo_core.nn.rope import RoPEConfig
    from olmo_core.nn.transformer import TransformerBlockConfig, TransformerBlockType, TransformerConfig

    if preset.arch == "olmo2":
        return TransformerConfig.olmo2_1B(vocab_size=vocab_size, attn_backend=AttentionBackendName(attention))
    norm = LayerNormConfig(name=LayerNormType.default, elementwise_affine=False, bias=False, eps=1e-5)
    block = TransformerBlockConfig(
        name=TransformerBlockType.default,
        sequence_mixer=AttentionConfig(n_heads=preset.n_heads, bias=False, rope=RoPEConfig(theta=preset.rope_theta),
                                       backend=AttentionBackendName(attention)),
        feed_forward=FeedForwardConfig(hidden_size=preset.hidden_size, bias=False),
        layer_norm=norm,
    )
    return TransformerConfig(d_model=preset.d_model, vocab_size=vocab_size, n_layers=preset.n_layers, block=block,
                             lm_head=LMHeadConfig(layer_norm=norm, bias=False), tie_word_embeddings=True)


def padded_vocab_size(vocab_size: int, multiple: int = 128) -> int:
    """Round the vocabulary up to a multiple of 128, as OLMo does (50,280 -> 50,304)."""
    return -(-vocab_size // multiple) * multiple
