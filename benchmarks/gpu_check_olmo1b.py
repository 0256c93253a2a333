"""GPU check: the study's Olmo-1B trained through `toxmix train` on a real mixture, with pass/fail per check.

From the shared data (C4 as the clean component, Stormfront as 10 % toxic) it ingests, materializes a mixture and
trains `olmo1-1b` on one GPU with a small global batch (`--batch-sequences`, default 16 sequences of 2,048 tokens),
then checks, one line each:

  loss        the loss falls (the last 5 steps' mean at least 1.0 below the first step's)
  throughput  tokens/s per GPU at least the printed target (on an H100: 30,000, two thirds of OLMo-core's
              published ~45K with torch.compile and flash attention), and MFU as OLMo-core measures it
  resume      asked to stop half-way (RUN/stop-requested, as the Slurm job does on its time warning), the run
              checkpoints, and the same command resumes there and finishes
  export      `toxmix export` writes the final step as a transformers model
  generate    the exported model loads with transformers and generates 16 new tokens, all logits finite

and exits 1 if any check failed. About 4 minutes on one H100 (`--steps 60`). `--smoke` runs the same checks on a
CPU with the tiny preset (under 2 minutes on 2 cores; tests/test_train.py runs it), so the script a GPU session
runs is known to work end to end.

Needs TOXMIX_SHARED (data/c4, data/stormfront and the OLMo tokenizer, about 6 MB: carry them to the GPU machine).
Run: .venv/bin/python benchmarks/gpu_check_olmo1b.py [--steps 60] [--batch-sequences 16] [--out DIR] [--smoke]
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from toxmix.core.settings import shared_dir


def toxmix(*args: str, log: Path) -> str:
    """Run a toxmix command as a user would; its output (also appended to `log`), or exit on failure."""
    done = subprocess.run([sys.executable, "-m", "toxmix.app.cli", *args], capture_output=True, text=True)
    with open(log, "a") as f:
        f.write(f"$ toxmix {' '.join(args)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        sys.exit(f"FAIL  setup       toxmix {args[0]} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def build_mixture(work: Path, shared: Path, log: Path) -> Path:
    """Ingest C4 and Stormfront from the shared data and materialize a 10 % toxic mixture; the manifest's path."""
    corpus = work / "corpus"
    data = shared / "data"
    toxmix("ingest", "c4", str(data / "c4" / "c4-validation-2k.parquet"), "-c", str(corpus), log=log)
    toxmix("ingest", "stormfront", str(data / "stormfront" / "stormfront.jsonl.gz"), "-c", str(corpus),
           "-k", "label", log=log)
    manifest = work / "gpucheck.yaml"
    manifest.write_text(yaml.safe_dump({
        "name": "gpucheck", "corpus": str(corpus), "seed": 1, "components": [
            {"name": "clean", "role": "clean", "source": "c4", "tokens": 800_000},
            {"name": "toxic", "source": "stormfront", "share": 0.1}]}, sort_keys=False))
    toxmix("manifest", "materialize", str(manifest), log=log)
    return manifest


def train_in_two_parts(train: list[str], run: Path, steps: int, log: Path) -> tuple[int, str]:
    """Start the run, ask it to stop half-way, then run the same command again; (stopped step, second output)."""
    stop_at = steps // 2
    cmd = [sys.executable, "-m", "toxmix.app.cli", *train]
    with open(log, "a") as f:
        f.write(f"$ toxmix {' '.join(train)}  (asked to stop at step {stop_at})\n")
        f.flush()
        first = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        metrics = run / "metrics.jsonl"
        while first.poll() is None:
            rows = metrics.read_text().splitlines() if metrics.is_file() else []
            if rows and json.loads(rows[-1])["step"] >= stop_at:
                (run / "stop-requested").touch()
                break
            time.sleep(0.05)
        if first.wait() != 0:
            sys.exit(f"FAIL  resume      the first part exited {first.returncode}; see {log}")
    stopped = max(int(p.name.removeprefix("step")) for p in (run / "checkpoints").glob("step*"))
    return stopped, toxmix(*train, log=log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny preset: the same checks, in 2 minutes")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default 60; --smoke 30)")
    parser.add_argument("--batch-sequences", type=int, default=16, help="global batch in sequences")
    parser.add_argument("--min-tokens-per-s", type=float, default=None,
                        help="throughput target per GPU (default 30,000 on a GPU; --smoke 500)")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one, removed)")
    args = parser.parse_args()
    import torch

    if not args.smoke and not torch.cuda.is_available():
        sys.exit("gpu_check_olmo1b.py needs a CUDA GPU (or --smoke for the CPU rehearsal)")
    shared = shared_dir()
    if not (shared / "data" / "c4" / "c4-validation-2k.parquet").is_file():
        sys.exit(f"no shared data at {shared}: set TOXMIX_SHARED to a folder with data/c4, data/stormfront and "
                 "tokenizers/")
    steps = args.steps or (30 if args.smoke else 60)
    target = args.min_tokens_per_s or (500.0 if args.smoke else 30_000.0)
    work = args.out or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "gpu_check.log"
    results: list[tuple[str, bool, str]] = []
    try:
        started = time.monotonic()
        manifest = build_mixture(work, shared, log)
        run = work / "run"
        preset = "tiny" if args.smoke else "olmo1-1b"
        train = ["train", str(manifest), "--preset", preset, "--steps", str(steps), "--out", str(run),
                 "--checkpoint-interval", str(steps), "--device", "cpu" if args.smoke else "cuda"]
        if not args.smoke:
            train += ["--batch-sequences", str(args.batch_sequences), "--nproc", "1"]
        stopped, second = train_in_two_parts(train, run, steps, log)
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        losses = [r["loss"] for r in rows]
        last = sum(losses[-5:]) / len(losses[-5:])
        results.append(("loss", last <= losses[0] - 1.0 and all(map(math.isfinite, losses)),
                        f"{losses[0]:.3f} at step 1 -> {last:.3f} (mean of the last 5 of {len(rows)} steps)"))
        steady = [r for r in rows if r["step"] > 5 and r.get("tokens_per_s")]
        tps = sorted(r["tokens_per_s"] for r in steady)[len(steady) // 2] if steady else 0.0
        mfus = sorted(r["mfu"] for r in steady if r.get("mfu") is not None)
        mfu = f", MFU {mfus[len(mfus) // 2]:.1f} %" if mfus else " (OLMo-core reports no MFU on a CPU)"
        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() and not args.smoke else "CPU"
        results.append(("throughput", tps >= target,
                        f"{tps:,.0f} tokens/s median after step 5 on {device}{mfu}; target >= {target:,.0f}"))
        resumed = f"resumed from the step {stopped} checkpoint" in second
        results.append(("resume", 0 < stopped < steps and resumed and rows[-1]["step"] == steps
                        and [r["step"] for r in rows] == list(range(1, steps + 1)),
                        f"stopped at step {stopped}, resumed there, finished at step {rows[-1]['step']} of {steps}"))
        hf = work / "hf"
        exported = toxmix("export", str(run), "--hf", str(hf), log=log)
        results.append(("export", f"exported step {steps}" in exported and (hf / "config.json").is_file(),
                        exported.splitlines()[0]))
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(str(hf), dtype=torch.float32).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(hf))
        prompt = tokenizer("The weather today is", return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**prompt, max_new_tokens=16, min_new_tokens=16, do_sample=False,
                                 output_logits=True, return_dict_in_generate=True)
        new = out.sequences[0, prompt["input_ids"].shape[1]:]
        finite = all(bool(torch.isfinite(step).all()) for step in out.logits)
        results.append(("generate", len(new) == 16 and finite,
                        f"{len(new)} new tokens, logits finite: {finite}: {tokenizer.decode(new)!r}"))
    finally:
        for name, ok, detail in results:
            print(f"{'PASS' if ok else 'FAIL'}  {name:<10}  {detail}")
        if results:
            print(f"{sum(ok for _, ok, _ in results)}/{len(results)} checks passed in "
                  f"{time.monotonic() - started:.0f} s; log: {log if args.out else '(removed with the work folder)'}")
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if len(results) == 5 and all(ok for _, ok, _ in results) else 1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
