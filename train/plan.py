"""Planning a run from a manifest: resolve and materialize if needed, verify the lock, fill in a TrainRun."""

import json
from pathlib import Path

from mixer.errors import ToxmixError
from mixer.manifest.check import corpus_of
from mixer.manifest.lockfile import lock_path, read_lock, verify_corpus, verify_shards
from mixer.manifest.materialize import materialize
from mixer.manifest.schema import load_manifest
from mixer.tokenizer import load_tokenizer, pad_token_id, tokenizer_info
from train.config import TrainRun, with_overrides
from train.presets import get_preset


def detect_device() -> tuple[str, int]:
    """("cuda", GPU count) when GPUs are visible, else ("cpu", 1)."""
    import torch

    return ("cuda", torch.cuda.device_count()) if torch.cuda.is_available() else ("cpu", 1)


def locked_mixture(manifest_path: str | Path, prepare: bool = True) -> dict:
    """The manifest's lock, resolving and materializing first when needed (an existing lock is reused)."""
    lock_file = lock_path(manifest_path)
    lock = read_lock(lock_file) if lock_file.is_file() else None
    if prepare and (lock is None or "materialized" not in lock
                    or not all((Path(lock["materialized"]["dir"]) / s["path"]).is_file()
                               for s in lock["materialized"]["shards"])):
        lock = materialize(manifest_path, progress=True)
    if lock is None:
        raise ToxmixError(f"{manifest_path} has no lock; run 'toxmix manifest resolve' first")
    manifest, base = load_manifest(manifest_path)
    verify_corpus(corpus_of(manifest, base), lock["corpus"])
    verify_shards(lock)
    return lock


def plan_run(manifest_path: str | Path, preset: str, seed: int = 0, steps: int | None = None,
             tokens: int | None = None, nproc: int | None = None, nnodes: int = 1, out: str | None = None,
             checkpoint_interval: int = 100, wandb_project: str | None = None, prepare: bool = True,
             progress: bool = True) -> TrainRun:
    """A TrainRun for the manifest, checked against its lock and token files."""
    settings = get_preset(preset)
    if steps is not None and tokens is not None:
        raise ToxmixError("give --steps or --tokens, not both")
    if (steps is not None and steps <= 0) or (tokens is not None and tokens <= 0):
        raise ToxmixError("--steps and --tokens must be positive")
    manifest, _ = load_manifest(manifest_path)
    if prepare:
        lock = locked_mixture(manifest_path)
    else:  # a dry run shows the configuration even before the mixture exists
        lock_file = lock_path(manifest_path)
        lock = read_lock(lock_file) if lock_file.is_file() else {}
    tok = tokenizer_info(manifest.tokenizer) if not lock else None
    mat = lock.get("materialized") or {
        "shards": [], "dtype": "uint16", "eos_id": tok.eos_id if tok else 0, "digest": "not materialized", "dir": "",
        "pad_id": pad_token_id(load_tokenizer(manifest.tokenizer))}
    device, gpus = detect_device()
    name = f"{manifest.name}-{preset}-s{seed}"
    run_dir = Path(out) if out else Path("runs") / name
    shards = [str(Path(mat["dir"]) / s["path"]) for s in mat["shards"]]
    masks = [str(Path(mat["dir"]) / s["label_mask"]["path"]) for s in mat["shards"]] if mat["shards"] and \
        "label_mask" in mat["shards"][0] else None
    run = TrainRun(
        name=name, run_dir=str(run_dir.resolve()), manifest=str(Path(manifest_path).resolve()),
        lock_file=str(lock_path(manifest_path).resolve()), lock_digest=lock.get("lock_digest", "not resolved"),
        shards_digest=mat["digest"], preset=settings.to_dict(), seed=seed, paths=shards, label_mask_paths=masks,
        dtype=mat["dtype"], eos_id=mat["eos_id"], pad_id=mat["pad_id"],
        vocab_size=lock["tokenizer"]["vocab_size"] if lock else tok.vocab_size,
        tokenizer=manifest.tokenizer, steps=steps, tokens=tokens, device=device,
        nproc=nproc or gpus, nnodes=nnodes, checkpoint_interval=checkpoint_interval, wandb_project=wandb_project,
        extra={"progress": progress},
    )
    if not prepare:
        return run
    run.preset = with_overrides(settings, run.planned_steps()).to_dict()
    run.check_fits()
    existing = run_dir / "run.json"
    if existing.is_file():
        before = json.loads(existing.read_text())
        if (before["lock_digest"], before["shards_digest"], before["preset"]["name"], before["seed"]) != (
                run.lock_digest, run.shards_digest, preset, seed):
            raise ToxmixError(f"{run_dir} holds another run (different mixture, preset or seed); pass a new --out")
    return run
