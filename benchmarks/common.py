"""Helpers shared by the benchmark scripts: inputs made from the shared C4 sample, and timing."""

import atexit
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from toxmix.core.settings import DEFAULT_TOKENIZER, shared_path
from toxmix.core.tokenizer import ENCODE_BATCH, tokenizer_file

BENCH_DIR = Path(__file__).resolve().parent


def compile_sources() -> None:
    """Write toxmix's bytecode once, as a user's first run does. This machine sets PYTHONDONTWRITEBYTECODE and an
    editable install compiles nothing, so every toxmix process would compile its modules afresh (the libraries on
    the bare side come compiled by pip): a start-up cost no user pays twice. The caches are git-ignored."""
    import compileall

    import toxmix

    root = Path(toxmix.__file__).resolve().parent.parent
    for folder in ("toxmix", "mixer", "classifiers", "train", "probe", "eval"):  # toxmix/<stage> are links
        compileall.compile_dir(root / folder, quiet=1)


def scratch(prefix: str) -> Path:
    """A temporary folder for one benchmark run, removed when the process exits (normally or on an error)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def c4_copies(out_dir: Path, copies: int, files: int = 1) -> list[Path]:
    """The 2,000 C4 documents repeated `copies` times with distinct ids, split over `files` Parquet files."""
    table = pq.read_table(shared_path("data", "c4", "c4-validation-2k.parquet"), columns=["text"])
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    per_file = -(-copies // files)
    for f in range(files):
        parts = []
        for c in range(f * per_file, min(copies, (f + 1) * per_file)):
            ids = pa.array([f"c{c}-{i}" for i in range(table.num_rows)])
            parts.append(table.append_column("id", ids))
        path = out_dir / f"c4-{f:03d}.parquet"
        pq.write_table(pa.concat_tables(parts), path)
        paths.append(path)
    return paths


@contextmanager
def timer():
    """Yield a dict whose 'seconds' is set when the block ends."""
    result = {}
    start = time.perf_counter()
    yield result
    result["seconds"] = time.perf_counter() - start


def peak_rss_mb() -> float:
    """Peak resident memory of this program so far, in MB: Linux's VmHWM, which starts afresh at exec.

    `ru_maxrss` does not: on Linux it keeps the parent's resident size at the fork that started this process, so a
    child of a benchmark that holds 600 MB reported at least 600 MB (ingest's figures before 2026-12-06)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(name: str, figures: dict) -> None:
    """Print figures as one JSON line (copied into BENCHMARKS.md)."""
    print(json.dumps({"benchmark": name, **figures}, indent=None))


def alternating(pairs: int, bare, ours) -> dict:
    """Time `bare()` and `ours()` in `pairs` alternating pairs (which runs first flips each pair), so a busy
    spell slows both sides alike; returns the median and range of the per-pair ratio bare/ours (> 1: ours is
    faster) and the median seconds of each side."""
    import statistics

    ratios, bare_s, ours_s = [], [], []
    for i in range(pairs):
        order = (("bare", bare), ("ours", ours)) if i % 2 == 0 else (("ours", ours), ("bare", bare))
        seconds = {}
        for name, fn in order:
            with timer() as t:
                fn()
            seconds[name] = t["seconds"]
        bare_s.append(seconds["bare"])
        ours_s.append(seconds["ours"])
        ratios.append(seconds["bare"] / seconds["ours"])
    return {"pairs": pairs, "ratio_median": round(statistics.median(ratios), 3),
            "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
            "bare_s_median": round(statistics.median(bare_s), 3), "ours_s_median": round(statistics.median(ours_s), 3),
            "ratios": [round(r, 3) for r in ratios]}


def machine_load() -> float:
    """The 1-minute load average, recorded beside each figure to say when the machine was busy."""
    return round(os.getloadavg()[0], 2)


def bare_encode_cmd(texts_parquet: Path, ids: bool) -> list[str]:
    """The whole-process bare side: `bare_encode.py` on the file the default tokenizer loads from, the texts and
    the pipeline's batch size."""
    tokenizer_json = tokenizer_file(DEFAULT_TOKENIZER)
    if tokenizer_json is None:
        raise SystemExit(f"no local copy of {DEFAULT_TOKENIZER}: set TOXMIX_SHARED to the shared folder")
    return [sys.executable, str(BENCH_DIR / "bare_encode.py"), str(tokenizer_json), str(texts_parquet),
            str(ENCODE_BATCH)] + (["--ids"] if ids else [])


def toxmix_cmd(*args: str) -> list[str]:
    """A `toxmix` command run as its own process, as a user runs it."""
    return [str(Path(sys.executable).with_name("toxmix")), *args]


def run_quietly(cmd: list[str]) -> str:
    """Run a command to completion, failing loudly; its standard output."""
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def whole_processes(pairs: int, bare_cmd: list[str], ours: Callable[[], None]) -> tuple[dict, int]:
    """`alternating` of the bare process (which prints its token count) and `ours`; the figures and that count."""
    counted = {}

    def bare() -> None:
        counted["tokens"] = int(run_quietly(bare_cmd))

    return alternating(pairs, bare, ours), counted["tokens"]


def with_rates(figures: dict, tokens: int, ours_name: str) -> dict:
    """A harness's figures with the tokens per second of each side's median time."""
    return {**figures, "bare_tokens_per_s": round(tokens / figures["bare_s_median"]),
            f"{ours_name}_tokens_per_s": round(tokens / figures["ours_s_median"])}
