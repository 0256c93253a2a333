"""Loading a causal LM (local folder, GGUF file or hub id) and finding its attention heads.

Head outputs are the input of `model.model.layers[l].self_attn.o_proj`: `[B, T, H*Dh]`, head h in columns
`h*Dh:(h+1)*Dh` (OLMo, OLMo-2 and Llama-family models in transformers 5).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from toxmix.core.errors import ToxmixError
from toxmix.core.files import file_digest, looks_local
from toxmix.core.model_identity import ModelIdentity, export_step
from toxmix.core.tokenizer import hub_reachable

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")


@dataclass
class LoadedModel:
    """A causal LM in eval mode, its tokenizer (left padding), identity and attention output projections."""

    model: torch.nn.Module
    tokenizer: object
    identity: ModelIdentity
    o_projs: list[torch.nn.Linear]

    @property
    def max_length(self) -> int:
        cfg = self.model.config
        return int(getattr(cfg, "max_position_embeddings", None) or 2048)


def _weights_digest(path: Path) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise ToxmixError(f"{path} holds no model weights (*.safetensors, *.bin or *.gguf)")
    return file_digest(*files, length=32)


def o_proj_modules(model: torch.nn.Module) -> list[torch.nn.Linear]:
    """Each layer's attention output projection; refuse a model whose attention does not end in o_proj."""
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is None or not all(hasattr(getattr(layer, "self_attn", None), "o_proj") for layer in layers):
        raise ToxmixError(f"{type(model).__name__} has no model.layers[*].self_attn.o_proj: per-head probes and ITI "
                          "need an OLMo, OLMo-2 or Llama-family model")
    return [layer.self_attn.o_proj for layer in layers]


def _check_model_folder(path: Path, spec: str) -> None:
    """Refuse a folder that is not a transformers model folder, in one line, before transformers trips on it."""
    config = path / "config.json"
    if not config.is_file():
        raise ToxmixError(f"{spec} is not a transformers model folder (no config.json); export a run with "
                          "'toxmix export RUN --hf OUT' or give a hub id")
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except (ValueError, AttributeError):
        model_type = None
    if not model_type:
        raise ToxmixError(f"not a model folder: {config} has no model_type")


def load_model(spec: str, dtype: torch.dtype = torch.float32) -> LoadedModel:
    """Load MODEL: a transformers folder, a `.gguf` file (with the `gguf` package), or a hub id."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # toxmix shows its own progress; the per-file bars are noise here
    path = Path(spec).expanduser()
    kwargs: dict = {"dtype": dtype}
    source = str(path) if path.exists() else spec
    if path.is_file() and path.suffix == ".gguf":
        source, kwargs["gguf_file"] = str(path.parent), path.name
    elif path.exists():
        _check_model_folder(path, spec)
    elif looks_local(spec):
        raise ToxmixError(f"no such model folder or file: {spec}")
    if not path.exists() and not hub_reachable():
        kwargs["local_files_only"] = True  # offline: the hub cache answers at once instead of ~25 s of retries
    try:
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        tok_kwargs = {k: kwargs[k] for k in ("gguf_file", "local_files_only") if k in kwargs}
        tokenizer = AutoTokenizer.from_pretrained(source, **tok_kwargs)
    except OSError as e:
        raise ToxmixError(f"cannot load model {spec!r}: {str(e).splitlines()[0]}") from None
    model.eval()
    tokenizer.padding_side = "left"  # last-token capture and generation both need the last position real
    tokenizer.truncation_side = "left"  # a long text keeps its end, where the last-token features are read
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    o_projs = o_proj_modules(model)
    cfg = model.config
    n_heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // n_heads
    if o_projs[0].in_features != n_heads * head_dim:
        raise ToxmixError(f"o_proj takes {o_projs[0].in_features} inputs, not heads x head_dim = {n_heads * head_dim}")
    digest = _weights_digest(path) if path.exists() else f"hub:{getattr(cfg, '_commit_hash', None) or 'main'}"
    identity = ModelIdentity(name=spec, digest=digest, n_layers=len(o_projs), n_heads=n_heads, head_dim=head_dim,
                             step=export_step(path) if path.is_dir() else None)
    return LoadedModel(model, tokenizer, identity, o_projs)
