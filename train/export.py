"""Exporting a run's checkpoint as a transformers model (OlmoForCausalLM or Olmo2ForCausalLM) with its tokenizer."""

import warnings
from pathlib import Path

import torch

from toxmix.core.errors import ToxmixError
from toxmix.core.files import staged_folder
from toxmix.core.tokenizer import load_tokenizer
from toxmix.train.presets import Preset, model_config
from toxmix.train.record import ExportRecord, RunRecord, latest_checkpoint


def load_trained_model(run: RunRecord, step: int | None = None):
    """The OLMo-core model of a run with its checkpoint's weights, on the CPU."""
    from olmo_core.distributed.checkpoint import load_model_and_optim_state

    model = model_config(run.preset, run.padded_vocab_size).build(init_device="cpu")
    with warnings.catch_warnings():
        # loading a (possibly sharded) checkpoint in one process is exactly what export means to do
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        load_model_and_optim_state(str(latest_checkpoint(run, step) / "model_and_optim"), model)
    return model.eval()


def export_step(run: RunRecord, step: int | None) -> int:
    """The checkpoint step an export takes: the given one, or the newest; an untrained step 0 only when asked."""
    chosen = int(latest_checkpoint(run, step).name.removeprefix("step"))
    if chosen == 0 and step is None:
        raise ToxmixError(f"run {run.name} has no trained checkpoint yet, only step 0 (its untrained weights): "
                          f"train it first ('toxmix train ... --out {run.run_dir}' resumes it), or pass --step 0 "
                          "to export the untrained model on purpose")
    return chosen


def planned_steps(run: RunRecord) -> int | None:
    """The steps a run was planned to take (None when its token files are gone)."""
    try:
        return run.planned_steps()
    except OSError:
        return None


def hf_config(p: Preset, vocab_size: int, eos_id: int, pad_id: int):
    """The transformers config matching a preset."""
    from transformers import Olmo2Config, OlmoConfig

    common = dict(vocab_size=vocab_size, hidden_size=p.d_model, intermediate_size=p.hidden_size,
                  num_hidden_layers=p.n_layers, num_attention_heads=p.n_heads, num_key_value_heads=p.n_heads,
                  max_position_embeddings=p.sequence_length, rope_theta=float(p.rope_theta), attention_bias=False,
                  eos_token_id=eos_id, pad_token_id=pad_id, bos_token_id=None)
    if p.arch == "olmo1":
        return OlmoConfig(**common, tie_word_embeddings=True, clip_qkv=None)
    return Olmo2Config(**common, rms_norm_eps=1e-6, tie_word_embeddings=False)


def olmo1_state_to_hf(state: dict, n_layers: int) -> dict:
    """OLMo-core keys -> transformers Olmo keys (OLMo-1 norms have no weights; the LM head is tied)."""
    out = {"model.embed_tokens.weight": state["embeddings.weight"]}
    names = {"attention.w_q": "self_attn.q_proj", "attention.w_k": "self_attn.k_proj",
             "attention.w_v": "self_attn.v_proj", "attention.w_out": "self_attn.o_proj",
             "feed_forward.w1": "mlp.gate_proj", "feed_forward.w3": "mlp.up_proj", "feed_forward.w2": "mlp.down_proj"}
    for i in range(n_layers):
        for ours, theirs in names.items():
            out[f"model.layers.{i}.{theirs}.weight"] = state[f"blocks.{i}.{ours}.weight"]
    return out


def export_hf(run_dir: str | Path, out: str | Path, step: int | None = None) -> ExportRecord:
    """Write the run's model and tokenizer as a transformers checkpoint folder; return its export record.

    The folder is written beside `out` under a temporary name and renamed into place once complete, so an export
    that fails (a full disk, say) leaves no folder a later command would take for a model.
    """
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    run = RunRecord.load(run_dir)
    step = export_step(run, step)
    model = load_trained_model(run, step)
    p = run.preset
    config = hf_config(p, run.padded_vocab_size, run.eos_id, run.pad_id)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if p.arch == "olmo1":
        hf_state = olmo1_state_to_hf(state, p.n_layers)
    else:
        from olmo_core.nn.hf.convert import convert_state_to_hf

        hf_state = convert_state_to_hf(config, state)
    hf_model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = hf_model.load_state_dict(hf_state, strict=False)
    missing = [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise ToxmixError(f"export does not map cleanly: missing {missing[:3]}, unexpected {unexpected[:3]}")
    if config.tie_word_embeddings:
        hf_model.tie_weights()
    with staged_folder(Path(out)) as staged:
        hf_model.save_pretrained(staged)
        tok_file = staged / "tokenizer.json"
        load_tokenizer(run.tokenizer).save(str(tok_file))
        tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(tok_file), eos_token="<|endoftext|>",
                                            pad_token="<|padding|>" if run.pad_id == 1 else "<|endoftext|>")
        tokenizer.save_pretrained(staged)
        record = _export_record(run, step)
        record.save(staged)
    return record


def _export_record(run: RunRecord, step: int | None) -> ExportRecord:
    from toxmix.mixer.manifest.lockfile import read_lock

    lock = read_lock(Path(run.lock_file))
    checkpoint = latest_checkpoint(run, step)
    return ExportRecord(run_name=run.name, run_dir=str(Path(run.run_dir).resolve()),
                        step=int(checkpoint.name.removeprefix("step")), seed=run.seed, preset=run.preset.name,
                        manifest=str(Path(run.manifest).resolve()), lock_file=str(Path(run.lock_file).resolve()),
                        lock_digest=run.lock_digest, shards_digest=run.shards_digest,
                        components={name: c.tokens for name, c in lock.components.items()},
                        clean_component=lock.clean_component)
