"""`toxmix manifest materialize`: stream the locked selection, transform, tokenize, write OLMo token files.

Token files are headerless memmap arrays (uint16 when the vocabulary fits, else uint32) with EOS after every
document, as OLMo-core's numpy datasets read them. Shards are cut at document boundaries by the selection's
own token counts, so which document lands in which shard is fixed before any tokenizing: each shard is an
independent, atomic job, and 1 or N workers give the same bytes.
"""

import hashlib
import json
import multiprocessing as mp
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.pipeline.base import PipelineStep
from rich.progress import Progress
from tokenizers import Encoding

from toxmix.core.errors import ToxmixError
from toxmix.core.files import atomic_write_bytes, canonical_sha256, file_sha256, write_json
from toxmix.core.processes import die_with_parent
from toxmix.core.settings import default_threads
from toxmix.core.tokenizer import ENCODE_BATCH, encode_ahead, load_tokenizer
from toxmix.mixer.corpus.executors import ExecutorConfig, Submitted
from toxmix.mixer.corpus.writers.parquet_shard import write_table
from toxmix.mixer.manifest.gather import Gather, read_gathered
from toxmix.mixer.manifest.lockfile import (
    LabelMaskFile,
    Lock,
    Materialized,
    ShardFile,
    read_lock,
    selection_ids_sha256,
    verify_corpus,
    write_lock,
)
from toxmix.mixer.manifest.outputs import claim_outputs
from toxmix.mixer.manifest.resolve import mixture_writer, resolve_unlocked
from toxmix.mixer.manifest.schema import Manifest, ManifestFile, as_manifest_file
from toxmix.mixer.manifest.transforms import apply_transform

INDEX_SCHEMA = pa.schema([("start", pa.int64()), ("end", pa.int64()), ("pos", pa.int64()), ("id", pa.string()),
                          ("source", pa.string()), ("component", pa.string())])


@dataclass(frozen=True)
class ShardJob:
    """One shard: the selection positions it holds and where its files go."""

    index: int
    first_pos: int
    last_pos: int
    out_dir: str
    manifest: Manifest
    dtype: str
    eos_id: int
    masked_components: tuple[str, ...]
    lock_digest: str
    gathered: str  # the folder `Gather` writes this shard's texts to

    @property
    def stem(self) -> str:
        return f"part-{self.index:05d}"

    @property
    def receipt(self) -> Path:
        """Written last, beside the shard: which lock and positions it holds, and its files' checksums."""
        return Path(self.out_dir) / f"{self.stem}.done.json"


def token_dtype(vocab_size: int) -> str:
    """uint16 when every id fits, else uint32."""
    return "uint16" if vocab_size <= np.iinfo(np.uint16).max + 1 else "uint32"


def plan_shards(selection: Path, shard_tokens: int) -> list[tuple[int, int]]:
    """(first, last) selection positions of each shard, cut where the running token count passes a multiple."""
    tokens = pq.read_table(selection, columns=["tokens"])["tokens"].to_numpy()
    if len(tokens) == 0:
        return []
    starts = np.cumsum(tokens) - tokens
    shard_of = starts // shard_tokens
    bounds = np.flatnonzero(np.diff(shard_of)) + 1
    edges = np.concatenate([[0], bounds, [len(tokens)]])
    return [(int(a), int(b) - 1) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _verified_receipt(job: ShardJob) -> dict | None:
    """The shard's receipt if its files are exactly what this lock's positions must hold, else None.

    A file's existence proves nothing: a shard left by another selection, truncated or changed in place is
    rewritten, never blessed.
    """
    try:
        receipt = json.loads(job.receipt.read_text())
    except (OSError, ValueError):
        return None
    if (receipt.get("lock"), receipt.get("first"), receipt.get("last")) != (job.lock_digest, job.first_pos,
                                                                          job.last_pos):
        return None
    out = Path(job.out_dir)
    files = {"npy_sha256": out / f"{job.stem}.npy"}
    if job.masked_components:
        files["mask_sha256"] = out / f"{job.stem}.mask.npy"
    for key, path in files.items():
        if not path.is_file() or file_sha256(path) != receipt.get(key):
            return None
    return receipt if (out / f"{job.stem}.index.parquet").is_file() else None


def _id_lists(encodings: list[Encoding]) -> list[list[int]]:
    return [e.ids for e in encodings]


def encode_with_eos(tok, texts: list[str], dtype: str, eos_id: int) -> tuple[np.ndarray, np.ndarray]:
    """The texts' token ids, EOS after each, as one array, and each document's length with its EOS."""
    batches = ((None, texts[first:first + ENCODE_BATCH]) for first in range(0, len(texts), ENCODE_BATCH))
    parts = []
    # the encoding thread takes each document's ids out (freeing the encodings before the next batch); this
    # thread, idle otherwise, copies them into the token array while the next batch encodes
    for _, id_lists in encode_ahead(tok, batches, _id_lists):
        lengths = np.fromiter((len(ids) + 1 for ids in id_lists), dtype=np.int64, count=len(id_lists))
        out = np.empty(int(lengths.sum()), dtype=dtype)
        start = 0
        for ids, n in zip(id_lists, lengths.tolist(), strict=True):
            out[start:start + n - 1] = ids  # one slice per document: faster than one list for the batch
            out[start + n - 1] = eos_id
            start += n
        parts.append((out, lengths))
    if not parts:
        return np.empty(0, dtype=dtype), np.empty(0, dtype=np.int64)
    return np.concatenate([ids for ids, _ in parts]), np.concatenate([lengths for _, lengths in parts])


def write_shard(job: ShardJob) -> dict:
    """Tokenize one shard from its gathered texts and write its token, mask and index files; return its receipt."""
    manifest = job.manifest
    rows = read_gathered(job.gathered, job.lock_digest, job.index, job.first_pos, job.last_pos)
    texts = rows["text"].to_pylist()
    rows = rows.drop_columns(["text"])  # held once, as Python strings, not also in Arrow's buffers
    components = rows["component"].to_pylist() if manifest.transforms or job.masked_components else None
    for i, t in enumerate(manifest.transforms):
        values = rows[f"t{i}"].to_pylist()
        for j, comp in enumerate(components):
            if t.components is None or comp in t.components:
                texts[j] = apply_transform(t, texts[j], values[j])
    ids, lengths = encode_with_eos(load_tokenizer(manifest.tokenizer), texts, job.dtype, job.eos_id)
    del texts
    if not manifest.transforms:
        counted = rows["tokens"].to_numpy().astype(np.int64)
        bad = np.flatnonzero(lengths != counted)
        if len(bad):
            j = int(bad[0])
            raise ToxmixError(f"tokenizer {manifest.tokenizer!r} gives {lengths[j] - 1} tokens for "
                              f"{rows['source'][j].as_py()}/{rows['id'][j].as_py()} where the corpus counted "
                              f"{counted[j] - 1}; the tokenizer does not match the corpus token counts")
    ends = np.cumsum(lengths)
    out = Path(job.out_dir)
    receipt = {"lock": job.lock_digest, "first": job.first_pos, "last": job.last_pos, "tokens": len(ids)}
    if job.masked_components:
        mask = np.ones(len(ids), dtype=np.bool_)
        for comp, s, e in zip(components, ends - lengths, ends, strict=True):
            if comp in job.masked_components:
                mask[s:e] = False
        atomic_write_bytes(out / f"{job.stem}.mask.npy", mask.data)
        receipt["mask_sha256"] = hashlib.sha256(mask.data).hexdigest()
    # written and hashed from the array's own buffer: tobytes() would copy the shard's tokens twice more
    atomic_write_bytes(out / f"{job.stem}.npy", ids.data)
    receipt["npy_sha256"] = hashlib.sha256(ids.data).hexdigest()
    index = pa.table({"start": ends - lengths, "end": ends, "pos": rows["pos"], "id": rows["id"],
                      "source": rows["source"], "component": rows["component"]}, schema=INDEX_SCHEMA)
    write_table(out / f"{job.stem}.index.parquet", index)
    write_json(job.receipt, receipt)  # written last: a verified receipt marks the shard done
    return receipt


def _init_worker(threads: int) -> None:
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    die_with_parent()


class WriteTokenShards(PipelineStep):
    """On a cluster executor, task i writes shard i (`write_shard`), as local workers do."""

    name = "write token shards"
    type = "toxmix"

    def __init__(self, jobs: list[ShardJob]):
        super().__init__()
        self.jobs = jobs

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        write_shard(self.jobs[rank])
        return data or ()


@dataclass(frozen=True)
class RecordMaterialized:
    """Materialize's last step, once every shard is written: verify each shard against its receipt and write the
    token files into the lock (in this process, or as the job that follows the tasks on a cluster)."""

    lock_path: str
    lock: Lock
    jobs: list[ShardJob]

    def __call__(self, receipts: dict[int, dict] | None = None) -> Lock:
        """`receipts` by first position, of shards just written here; the others are verified from their files."""
        receipts = dict(receipts or {})
        shards = []
        for job in self.jobs:
            receipt = receipts.get(job.first_pos) or _verified_receipt(job)
            if receipt is None:
                raise ToxmixError(f"shard {job.stem} in {job.out_dir} is missing or does not match its receipt; "
                                  "run materialize again to rewrite it")
            mask = (LabelMaskFile(path=f"{job.stem}.mask.npy", sha256=receipt["mask_sha256"])
                    if job.masked_components else None)
            shards.append(ShardFile(path=f"{job.stem}.npy", tokens=receipt["tokens"],
                                    docs=job.last_pos - job.first_pos + 1, sha256=receipt["npy_sha256"],
                                    label_mask=mask))
        out_dir = self.jobs[0].out_dir if self.jobs else str(Path(self.lock_path).parent)
        dtype = self.jobs[0].dtype if self.jobs else token_dtype(self.lock.tokenizer.vocab_size)
        if self.jobs:  # every shard is verified: the gathered texts have served
            shutil.rmtree(self.jobs[0].gathered, ignore_errors=True)
        materialized = Materialized(dir=out_dir, dtype=dtype, shards=shards, tokens=sum(s.tokens for s in shards),
                                    digest=canonical_sha256([s.model_dump(mode="json", exclude_none=True)
                                                             for s in shards]))
        return write_lock(Path(self.lock_path), self.lock.model_copy(update={"materialized": materialized}))


def materialize(manifest: str | Path | ManifestFile, workers: int = 1, progress: bool = True,
                lock: Lock | None = None, wait: bool = False,
                executor: ExecutorConfig | None = None) -> Lock | Submitted:
    """Write the locked selection as token files; resumes, and re-runs give byte-identical shards.

    Resolves first when there is no lock; a caller that has read the lock already passes it in. Shards are written
    by `workers` local processes, or, with a Slurm or Ray `executor`, one task per shard there (on Slurm the
    tasks and the job that writes the lock after them are submitted, and that is returned). One writer per
    mixture: another resolve or materialize of it is refused, or waited for with `wait`.
    """
    executor = executor or ExecutorConfig(workers=workers)
    mf = as_manifest_file(manifest)
    with mixture_writer(mf, wait):
        if wait and lock is not None and mf.lock_path.is_file():
            lock = read_lock(mf.lock_path)  # what the writer waited for left behind
        return _materialize(mf, executor, progress, lock)


def _materialize(mf: ManifestFile, executor: ExecutorConfig, progress: bool, lock: Lock | None) -> Lock | Submitted:
    spec = mf.manifest
    if lock is None and mf.lock_path.is_file():
        lock = read_lock(mf.lock_path)
    if lock is not None and lock.manifest.sha256 != mf.sha256:
        lock = None  # the manifest changed since its lock: select again, never reuse the old selection
    if lock is not None:
        layout = mf.corpus()
        verify_corpus(layout, lock.corpus)
        selection = layout.root / lock.selection.path
        if not selection.is_file() or selection_ids_sha256(selection) != lock.selection.ids_sha256:
            lock = None  # the selection file is gone or not the one the lock hashed: select again
    if lock is None:
        resolved = resolve_unlocked(mf)
        lock, layout = resolved.lock, resolved.layout
    selection = layout.root / lock.selection.path
    out = claim_outputs(mf, layout)
    out.mkdir(parents=True, exist_ok=True)
    dtype = token_dtype(lock.tokenizer.vocab_size)
    masked = tuple(sorted(c.name for c in spec.components if not c.label_mask))
    gathered = str(layout.gathered(spec.name))
    jobs = [ShardJob(i, a, b, str(out), spec, dtype, lock.tokenizer.eos_id, masked, lock.lock_digest, gathered)
            for i, (a, b) in enumerate(plan_shards(selection, spec.output.shard_tokens))]
    receipts = {j.first_pos: r for j in jobs if (r := _verified_receipt(j)) is not None}
    todo = [j for j in jobs if j.first_pos not in receipts]
    gather = Gather(str(layout.root), str(selection), gathered, lock.lock_digest,
                    tuple((j.index, j.first_pos, j.last_pos) for j in todo), tuple(spec.transforms))
    record = RecordMaterialized(str(mf.lock_path), lock, jobs)
    if executor.kind != "local":
        logging_dir = layout.logs("materialize", spec.name, lock.lock_digest[:16])
        for job in jobs:
            if job.first_pos not in receipts:  # a marker is no proof: redo every shard that does not verify
                (logging_dir / "completions" / f"{job.index:05d}").unlink(missing_ok=True)
        return executor.run([WriteTokenShards(jobs)], len(jobs), logging_dir, f"toxmix-materialize-{spec.name}",
                            then=record, first=gather)
    gather()
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"materialize {spec.name}", total=len(jobs), completed=len(receipts))

        def done(receipt: dict) -> None:  # checksums of the bytes just written, as the verified ones are
            receipts[receipt["first"]] = receipt
            bar.advance(task)

        if executor.workers <= 1 or len(todo) <= 1:
            for job in todo:
                done(write_shard(job))
        else:
            threads = max(1, default_threads() // executor.workers)
            with mp.get_context("forkserver").Pool(executor.workers, initializer=_init_worker,
                                                   initargs=(threads,)) as pool:
                for receipt in pool.imap_unordered(write_shard, todo):
                    done(receipt)
    return record(receipts)
