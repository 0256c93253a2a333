"""Training throughput: `toxmix train --preset tiny` vs a bare OLMo-core training script on the same data and CPU.

The bare script builds the same model, dataset, data loader and trainer with OLMo-core's own defaults and no
toxmix code in the loop; both take the same number of steps in a fresh process with the same threads.
Tokens/s is measured from step timestamps (toxmix's metrics.jsonl; a post_step clock in the bare script),
skipping the first 5 steps.
Run: .venv/bin/python benchmarks/bench_train.py --manifest manifests/demo/demo-10.yaml [--steps 60]
"""

import argparse
import json
import os
import subprocess
import sys
import time

from common import report, scratch

from toxmix.core.settings import default_threads

BARE = r'''
import json, sys, time
import torch
from olmo_core.data import NumpyDataLoaderConfig, NumpyFSLDatasetConfig, TokenizerConfig
from olmo_core.optim import AdamWConfig, CosWithWarmup
from olmo_core.train import Duration, TrainerConfig, prepare_training_environment, teardown_training_environment
from olmo_core.train.callbacks import Callback
from olmo_core.train.train_module import TransformerTrainModuleConfig
from olmo_core.utils import seed_all
from toxmix.train.presets import get_preset, model_config

paths, steps, out = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
p = get_preset("tiny")
times = []
class Clock(Callback):
    def post_step(self):
        times.append(time.perf_counter())
torch.set_num_threads(int(sys.argv[4]))
prepare_training_environment(seed=0, backend=None)
tok = TokenizerConfig(vocab_size=50280, eos_token_id=50279, pad_token_id=1)
seed_all(0)
model = model_config(p, 50304).build(init_device="cpu")
tm = TransformerTrainModuleConfig(rank_microbatch_size=p.rank_microbatch_sequences * p.sequence_length,
    max_sequence_length=p.sequence_length, optim=AdamWConfig(lr=p.lr, betas=p.betas, weight_decay=p.weight_decay),
    scheduler=CosWithWarmup(warmup=6), max_grad_norm=1.0).build(model)
ds = NumpyFSLDatasetConfig(paths=paths, sequence_length=p.sequence_length, tokenizer=tok,
                           work_dir=out + "/cache").build()
dl = NumpyDataLoaderConfig(global_batch_size=p.global_batch_tokens, seed=0, num_workers=0).build(ds)
trainer = TrainerConfig(save_folder=out, save_overwrite=True, max_duration=Duration.steps(steps), device="cpu",
                        metrics_collect_interval=1, no_checkpoints=True).with_callback("clock", Clock()).build(tm, dl)
trainer.fit()
print(json.dumps({"times": times}))
teardown_training_environment()
'''


def _steps_per_second(times: list[float], skip: int = 5) -> float:
    t = times[skip:]
    return (len(t) - 1) / (t[-1] - t[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    from toxmix.train.plan import plan_run
    from toxmix.train.record import read_metrics

    work = scratch("bench-train-")
    threads = default_threads()
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    run = plan_run(args.manifest, "tiny", seed=0, steps=args.steps, checkpoint_interval=10 ** 6,
                   out=str(work / "toxmix"), progress=False)
    run.save()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "toxmix.train.entry", run.run_dir], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    rows = read_metrics(run.metrics_file)
    ours_tps = _steps_per_second([r.time for r in rows]) * run.preset.global_batch_tokens
    bare = subprocess.run([sys.executable, "-c", BARE, json.dumps(run.paths), str(args.steps), str(work / "bare"),
                           str(threads)], env=env, check=True, capture_output=True, text=True)
    times = json.loads(bare.stdout.strip().splitlines()[-1])["times"]
    bare_tps = _steps_per_second(times) * run.preset.global_batch_tokens
    report("train_tiny_cpu", {"steps": args.steps, "threads": threads, "bare_olmo_core_tokens_per_s": round(bare_tps),
                              "toxmix_tokens_per_s": round(ours_tps), "ratio": round(ours_tps / bare_tps, 3),
                              "toxmix_wall_s_incl_startup": round(wall, 1)})


if __name__ == "__main__":
    main()
