"""Inference-time intervention (Li et al. 2023): shift the top-K heads' outputs against their toxicity direction.

Per chosen head, θ is the normalized difference of mean activations (toxic minus non-toxic) and σ the standard
deviation of activations projected on θ; steering adds −α·σ·θ to the head's output (the input of o_proj).
Two ways to apply it: forward pre-hooks (`steer`, used by evaluation), or baked into the weights as an o_proj
bias (`bake`), a plain transformers checkpoint that runs without toxmix.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from toxmix.core.errors import ToxmixError
from toxmix.core.files import atomic_path, staged_folder
from toxmix.core.model_identity import ModelIdentity
from toxmix.core.models import LoadedModel
from toxmix.core.records import Frozen
from toxmix.probe.run import ProbeRun

POSITIONS = ("all", "generated")


class ITIMeta(Frozen):
    """The JSON metadata stored in an ITI file."""

    version: int = 1
    toxmix_version: str
    model: ModelIdentity
    heads: list[tuple[int, int]]
    probe_run: str  # the probe run's digest
    probe_dir: str
    selection: str  # how heads were chosen


@dataclass
class ITI:
    """The chosen heads with their directions and spreads."""

    meta: ITIMeta
    theta: np.ndarray  # [K, head_dim], unit rows
    sigma: np.ndarray  # [K]

    def for_model(self, model: ModelIdentity, path: str | Path = "the ITI file") -> "ITI":
        """This ITI, after checking it was fitted for `model` (its shapes and weights)."""
        fitted = self.meta.model
        if (fitted.n_layers, fitted.n_heads, fitted.head_dim) != (model.n_layers, model.n_heads, model.head_dim):
            raise ToxmixError(f"{path} was fitted for {fitted.n_layers} layers x {fitted.n_heads} heads x "
                              f"{fitted.head_dim}, not this model's {model.n_layers} x {model.n_heads} x "
                              f"{model.head_dim}")
        if fitted.digest != model.digest:
            raise ToxmixError(f"{path} was fitted for {fitted.name} (weights {fitted.digest[:12]}), not {model.name} "
                              f"(weights {model.digest[:12]}); fit ITI on this model's probe run")
        return self

    def shifts(self, alpha: float) -> dict[int, torch.Tensor]:
        """Per layer, the [heads*head_dim] vector added to o_proj's input: −α·σ·θ on chosen heads, 0 elsewhere."""
        check_alpha(alpha)
        ident = self.meta.model
        out: dict[int, torch.Tensor] = {}
        for (layer, head), theta, sigma in zip(self.meta.heads, self.theta, self.sigma, strict=True):
            vec = out.setdefault(layer, torch.zeros(ident.n_heads * ident.head_dim, dtype=torch.float32))
            vec[head * ident.head_dim:(head + 1) * ident.head_dim] -= alpha * float(sigma) * torch.from_numpy(theta)
        return out


def check_alpha(alpha: float) -> float:
    """Refuse a steering strength that is not a finite number (NaN or inf would make every output NaN)."""
    if not np.isfinite(alpha):
        raise ToxmixError(f"--alpha {alpha}: the steering strength must be a finite number (the study: 4, 8, 12)")
    return alpha


def check_positions(positions: str) -> str:
    """Refuse anything but the positions steering knows."""
    if positions not in POSITIONS:
        raise ToxmixError(f"--positions {positions!r}: use one of {', '.join(POSITIONS)}")
    return positions


def fit_iti(acts: np.ndarray, labels: np.ndarray, ranking: list[tuple[int, int]], k: int, identity: ModelIdentity,
            probe_digest: str, probe_dir: str) -> ITI:
    """θ and σ for the first k heads of ranking (best probe accuracy first), from all labelled activations."""
    n_heads_total = acts.shape[1] * acts.shape[2]
    if k < 1 or k > n_heads_total:
        raise ToxmixError(f"--heads {k}: the model has {n_heads_total} heads ({acts.shape[1]} layers x "
                          f"{acts.shape[2]}); choose 1 to {n_heads_total}")
    heads = ranking[:k]
    y = labels.astype(bool)
    thetas, sigmas = [], []
    for layer, head in heads:
        x = acts[:, layer, head].astype(np.float64)
        d = x[y].mean(0) - x[~y].mean(0)
        theta = d / (np.linalg.norm(d) or 1.0)
        thetas.append(theta)
        sigmas.append((x @ theta).std())
    meta = ITIMeta(toxmix_version=version("toxmix"), model=identity, heads=[(int(a), int(b)) for a, b in heads],
                   probe_run=probe_digest, probe_dir=probe_dir, selection=f"top {k} heads by probe validation accuracy")
    return ITI(meta, np.asarray(thetas, dtype=np.float32), np.asarray(sigmas, dtype=np.float32))


def fit_from_probe_run(lm: LoadedModel, probe_dir: Path, k: int) -> ITI:
    """`fit_iti` on a probe run of this model: its cached activations and labels, its heads ranked by validation
    accuracy (ties by layer, then head)."""
    run = ProbeRun.load(probe_dir)
    if lm.identity != run.model:
        raise ToxmixError(f"{probe_dir} probed {run.model.name} (weights {run.model.digest[:12]}), not "
                          f"{lm.identity.name} (weights {lm.identity.digest[:12]}); probe this model first")
    cache = probe_dir / run.activations
    if not cache.is_file():
        raise ToxmixError(f"{cache} is gone; run 'toxmix probe {lm.identity.name} --out {probe_dir}' again")
    table = pq.read_table(probe_dir / "heads.parquet").to_pandas().sort_values(
        ["val_accuracy", "layer", "head"], ascending=[False, True, True])
    ranking = list(zip(table["layer"].astype(int), table["head"].astype(int), strict=True))
    return fit_iti(np.load(cache), np.load(probe_dir / "labels.npy"), ranking, k, lm.identity, run.digest,
                   str(Path(probe_dir).resolve()))


def save_iti(iti: ITI, path: Path) -> Path:
    """A safetensors file: heads [K, 2], theta [K, head_dim], sigma [K]; metadata under `toxmix`."""
    from safetensors.numpy import save_file

    tensors = {"heads": np.asarray(iti.meta.heads, dtype=np.int64).reshape(-1, 2), "theta": iti.theta,
               "sigma": iti.sigma}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"toxmix": iti.meta.model_dump_json()})
    return path


def load_iti(path: str | Path, model: ModelIdentity | None = None) -> ITI:
    """Read an ITI file; with a model, refuse one fitted for another model (shapes or weights)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ToxmixError(f"no ITI file {path}; make one with 'toxmix iti fit MODEL PROBE_RUN'")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = ITIMeta.model_validate(json.loads((f.metadata() or {})["toxmix"]))
            theta, sigma = f.get_tensor("theta"), f.get_tensor("sigma")
    except Exception as e:  # noqa: BLE001 - a foreign or damaged file fails in many ways; say which file
        raise ToxmixError(f"{path} is not a toxmix ITI file ({type(e).__name__})") from None
    k, head_dim = len(meta.heads), meta.model.head_dim
    if theta.shape != (k, head_dim) or sigma.shape != (k,):
        raise ToxmixError(f"{path}: theta {list(theta.shape)} and sigma {list(sigma.shape)} do not fit its {k} heads "
                          f"of dimension {head_dim}; fit it again with 'toxmix iti fit'")
    if not (np.isfinite(theta).all() and np.isfinite(sigma).all()):
        raise ToxmixError(f"{path}: theta or sigma holds NaN or inf; fit it again with 'toxmix iti fit'")
    ident = meta.model
    if any(not (0 <= layer < ident.n_layers and 0 <= head < ident.n_heads) for layer, head in meta.heads):
        raise ToxmixError(f"{path}: a head lies outside its model's {ident.n_layers} layers x {ident.n_heads} heads")
    iti = ITI(meta, theta, sigma)
    return iti.for_model(model, path) if model is not None else iti


@contextmanager
def steer(lm: LoadedModel, iti: ITI, alpha: float, positions: str = "all") -> Iterator[None]:
    """Within the block, o_proj inputs are shifted by −α·σ·θ on the chosen heads, for every batch row.

    positions="all" shifts every position (what baking does); "generated" follows the original ITI: the last
    prompt token and every generated token (a multi-token forward shifts its last position only; each cached
    generation step's single position is shifted).
    """
    check_positions(positions)
    shifts = iti.shifts(alpha)

    def make(vec: torch.Tensor):
        def pre_hook(_module, args):
            x = args[0]
            v = vec.to(dtype=x.dtype, device=x.device)
            if positions == "all" or x.shape[1] == 1:
                return (x + v, *args[1:])
            x = x.clone()
            x[:, -1, :] += v
            return (x, *args[1:])
        return pre_hook

    handles = [lm.o_projs[layer].register_forward_pre_hook(make(vec)) for layer, vec in shifts.items()]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def bake(lm: LoadedModel, iti: ITI, alpha: float, out: Path) -> Path:
    """Write a transformers checkpoint whose o_proj biases carry the shift (W_O·shift) at every position.

    The architectures have no o_proj-only bias flag, so `attention_bias=True` is set with explicit zero q/k/v
    biases; plain `AutoModelForCausalLM.from_pretrained(out)` then runs the steered model.
    """
    import copy

    model = copy.deepcopy(lm.model)
    shifts = iti.shifts(alpha)
    for layer, block in enumerate(model.model.layers):
        attn = block.self_attn
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            lin = getattr(attn, name)
            if lin.bias is None:
                lin.bias = torch.nn.Parameter(torch.zeros(lin.out_features, dtype=lin.weight.dtype))
        if layer in shifts:
            with torch.no_grad():
                attn.o_proj.bias += attn.o_proj.weight.float() @ shifts[layer].to(attn.o_proj.weight.device)
    model.config.attention_bias = True
    # A GGUF model was dequantized to float32 on load: what is saved is a plain checkpoint, not a GGUF one
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with staged_folder(Path(out)) as staged:  # renamed into place once whole: no empty folder on failure
        model.save_pretrained(staged)
        lm.tokenizer.save_pretrained(staged)
        (staged / "toxmix_iti.json").write_text(json.dumps({"alpha": alpha, "iti": iti.meta.model_dump(mode="json")},
                                                           indent=2) + "\n")
    return Path(out)


def continuations(lm: LoadedModel, iti: ITI, alpha: float, prompts: list[str], max_new_tokens: int = 20,
                  positions: str = "all") -> list[tuple[str, str, str]]:
    """Greedy continuations of each prompt without and with steering: (prompt, plain, steered)."""
    check_alpha(alpha)
    tok = lm.tokenizer
    batch = tok(prompts, return_tensors="pt", padding=True)
    gen = dict(max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    with torch.inference_mode():
        plain = lm.model.generate(**batch, **gen)
        with steer(lm, iti, alpha, positions):
            steered = lm.model.generate(**batch, **gen)
    n = batch["input_ids"].shape[1]
    return [(t, tok.decode(a[n:], skip_special_tokens=True), tok.decode(b[n:], skip_special_tokens=True))
            for t, a, b in zip(prompts, plain, steered, strict=True)]
