"""Planning a run from a manifest: resolve and materialize if needed, verify the lock, fill in a RunRecord.

A `toxmix train` parses the manifest once, reads the lock once and fingerprints the corpus once; the typed
objects are passed down from here.
"""

from pathlib import Path

from toxmix.core.errors import ToxmixError
from toxmix.core.tokenizer import tokenizer_info
from toxmix.mixer.manifest.lockfile import Lock, Materialized, read_lock, verify_corpus, verify_shards
from toxmix.mixer.manifest.materialize import materialize
from toxmix.mixer.manifest.schema import ManifestFile, as_manifest_file
from toxmix.train.olmo import with_overrides
from toxmix.train.presets import get_preset
from toxmix.train.record import RunRecord


def detect_device() -> tuple[str, int]:
    """("cuda", GPU count) when GPUs are visible, else ("cpu", 1)."""
    import torch

    return ("cuda", torch.cuda.device_count()) if torch.cuda.is_available() else ("cpu", 1)


def job_layout(device: str, nproc: int | None, nnodes: int, dp: str | None) -> tuple[str, int, str | None]:
    """The device, processes per node and data-parallel layout of the job, decided for where it will run: a
    multi-node run is a GPU job even when planned on a login node without GPUs; across nodes on GPUs, HSDP
    (FSDP inside a node, replicas across nodes), on one node FSDP, several CPU processes DDP."""
    here, gpus = detect_device()
    if device == "auto":
        device = "cuda" if nnodes > 1 or here == "cuda" else "cpu"
    if nproc is None:
        if device == "cuda" and here != "cuda":
            raise ToxmixError("give --nproc, the GPUs per node: this machine has none to count")
        nproc = gpus if device == here else 1
    world = nproc * nnodes
    if dp is None:
        dp = ("hsdp" if nnodes > 1 else "fsdp") if device == "cuda" else ("ddp" if world > 1 else None)
    if dp is not None and world == 1:
        dp = None  # one process: nothing to parallelize
    if dp in ("fsdp", "hsdp") and device != "cuda":
        raise ToxmixError(f"--dp {dp} is for GPUs (its mixed precision needs them); on CPUs use --dp ddp")
    return device, nproc, dp


def locked_mixture(mf: ManifestFile) -> Lock:
    """The manifest's lock with verified token files, resolving and materializing first when needed."""
    lock = read_lock(mf.lock_path) if mf.lock_path.is_file() else None
    if (lock is None or lock.manifest.sha256 != mf.sha256 or lock.materialized is None
            or not all(Path(p).is_file() for p in lock.materialized.paths())):
        # resolves again when the manifest changed; verifies the corpus; rewrites any shard it cannot verify
        return materialize(mf, progress=True, lock=lock)
    verify_corpus(mf.corpus(), lock.corpus)
    verify_shards(lock)
    return lock


def plan_run(manifest: str | Path | ManifestFile, preset: str, seed: int = 0, steps: int | None = None,
             tokens: int | None = None, nproc: int | None = None, nnodes: int = 1, out: str | None = None,
             checkpoint_interval: int = 100, wandb_project: str | None = None, prepare: bool = True,
             progress: bool = True, device: str = "auto", dp: str | None = None,
             keep_every: int | None = None, compile: bool = False, flash_attn: bool = False,
             batch_sequences: int | None = None) -> RunRecord:
    """A RunRecord for the manifest, checked against its lock and token files (a dry run prepares nothing)."""
    settings = get_preset(preset)
    if batch_sequences is not None:  # a smaller global batch for fewer GPUs or a quick check; the rest as the preset
        settings = settings.model_copy(update={
            "global_batch_sequences": batch_sequences,
            "rank_microbatch_sequences": min(settings.rank_microbatch_sequences, batch_sequences)})
    if steps is not None and tokens is not None:
        raise ToxmixError("give --steps or --tokens, not both")
    if (steps is not None and steps <= 0) or (tokens is not None and tokens <= 0):
        raise ToxmixError("--steps and --tokens must be positive")
    mf = as_manifest_file(manifest)
    # a dry run shows the configuration even before the mixture exists
    lock = locked_mixture(mf) if prepare else read_lock(mf.lock_path) if mf.lock_path.is_file() else None
    tok = lock.tokenizer if lock else tokenizer_info(mf.manifest.tokenizer)
    mat = lock.materialized if lock and lock.materialized else Materialized(
        dir="", dtype="uint16", shards=[], tokens=0, digest="not materialized")
    device, nproc, dp = job_layout(device, nproc, nnodes, dp)
    if device == "cpu" and (compile or flash_attn):  # OLMo-core compiles only with CUDA; flash-attn is CUDA-only
        raise ToxmixError(f"{'--compile' if compile else '--flash-attn'} is for GPU runs, and this run trains on the "
                          "CPU (no GPU visible here); drop it, or plan with --device cuda or --nnodes N for a GPU job")
    name = f"{mf.name}-{preset}-s{seed}"
    run_dir = Path(out) if out else Path("runs") / name
    run = RunRecord(
        name=name, run_dir=str(run_dir.resolve()), manifest=str(mf.path), lock_file=str(mf.lock_path),
        lock_digest=lock.lock_digest if lock else "not resolved", shards_digest=mat.digest, preset=settings,
        seed=seed, paths=mat.paths(), label_mask_paths=mat.label_mask_paths(), dtype=mat.dtype,
        eos_id=tok.eos_id, pad_id=tok.pad_id, vocab_size=tok.vocab_size, tokenizer=mf.manifest.tokenizer,
        steps=steps, tokens=tokens, device=device, nproc=nproc, nnodes=nnodes, dp=dp, keep_every=keep_every,
        checkpoint_interval=checkpoint_interval, wandb_project=wandb_project, progress=progress,
        compile=compile, attention="flash_2" if flash_attn else "torch",
    )
    if not prepare:
        return run
    run.preset = with_overrides(settings, run.planned_steps())
    run.check_fits()
    if (run_dir / "run.json").is_file():
        before = RunRecord.load(run_dir)
        if (before.lock_digest, before.shards_digest, before.preset.name, before.seed,
                before.preset.global_batch_sequences) != (
                run.lock_digest, run.shards_digest, preset, seed, settings.global_batch_sequences):
            raise ToxmixError(f"{run_dir} holds another run (different mixture, preset, seed or batch); pass a new "
                              "--out")
    return run
