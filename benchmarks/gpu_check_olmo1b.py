"""GPU check: the `olmo1-1b` preset for 20 steps on one GPU, reporting tokens/s and MFU. Needs no ../shared.

Random token files stand in for a mixture, so it runs on a bare GPU machine with only this repository and its
virtual environment. The global batch is reduced (default 64 sequences of 2048) so 20 steps fit in minutes;
throughput per token and MFU do not depend on it. MFU comes from OLMo-core's speed monitor (bf16 peak of the
detected device). Goal: MFU >= 40 % on one H100.
Run: .venv/bin/python benchmarks/gpu_check_olmo1b.py [--steps 20] [--global-batch-sequences 64] [--out DIR]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from toxmix.train.launch import torchrun_command
from toxmix.train.presets import get_preset
from toxmix.train.record import RunRecord, read_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--global-batch-sequences", type=int, default=64)
    parser.add_argument("--micro-batch-sequences", type=int, default=8)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("gpu_check_olmo1b.py needs a CUDA GPU")
    work = Path(args.out or tempfile.mkdtemp(prefix="gpu-check-"))
    preset = get_preset("olmo1-1b").model_copy(update=dict(
        global_batch_sequences=args.global_batch_sequences, rank_microbatch_sequences=args.micro_batch_sequences,
        warmup_steps=5))
    n_tokens = preset.sequence_length * args.global_batch_sequences * (args.steps + 2)
    data = work / "tokens.npy"
    data.parent.mkdir(parents=True, exist_ok=True)
    np.random.default_rng(0).integers(2, 50_000, n_tokens, dtype=np.uint16).tofile(data)
    run = RunRecord(name="gpu-check-olmo1b", run_dir=str(work / "run"), manifest="synthetic", lock_file="none",
                   lock_digest="synthetic", shards_digest="synthetic", preset=preset, seed=0,
                   paths=[str(data)], label_mask_paths=None, dtype="uint16", eos_id=50279, pad_id=1,
                   vocab_size=50280, tokenizer="allenai/gpt-neox-olmo-dolma-v1_5", steps=args.steps,
                   device="cuda", nproc=1, checkpoint_interval=10 ** 6, progress=False)
    run.save()
    subprocess.run(torchrun_command(run), check=True)
    rows = read_metrics(run.metrics_file)
    steady = [r for r in rows if r.step > 5]
    result = {
        "gpu": torch.cuda.get_device_name(0), "steps": args.steps, "parameters": 1_176_764_416,
        "global_batch_tokens": preset.global_batch_tokens,
        "tokens_per_s": round(float(np.mean([r.tokens_per_s for r in steady if r.tokens_per_s is not None]))),
        "mfu_percent": round(float(np.mean([r.mfu for r in steady if r.mfu is not None])), 1) if any(
            r.mfu is not None for r in steady) else None,
        "final_loss": rows[-1].loss,
    }
    print(json.dumps(result))
    (work / "gpu_check.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
