"""Trainer callbacks: metrics to JSONL (rewound on resume), a progress bar, and stopping when asked."""

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from olmo_core.distributed.utils import get_rank
from olmo_core.train.callbacks import Callback

from toxmix.core.files import atomic_write_bytes

KEPT = {"train/CE loss": "loss", "optim/LR (group 0)": "lr", "optim/total grad norm": "grad_norm",
        "throughput/device/TPS": "tokens_per_s", "throughput/device/MFU": "mfu", "throughput/total tokens": "tokens"}


@dataclass
class JsonlMetricsCallback(Callback):
    """One JSON line per step: step, loss, lr, grad_norm, tokens_per_s, mfu (on GPUs) and tokens."""

    path: str = "metrics.jsonl"

    def pre_train(self):
        # after a resume, drop lines past the checkpoint so the file reads as one uninterrupted run; only rank 0
        # writes this file (every rank rewriting it at once lost lines on a real two-node run), and atomically
        path = Path(self.path)
        if get_rank() == 0 and path.is_file():
            lines = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["step"] <= self.step]
            atomic_write_bytes(path, "".join(ln + "\n" for ln in lines).encode())

    def log_metrics(self, step: int, metrics: dict[str, float]):
        if get_rank() != 0:
            return
        row = {"step": step, "time": round(time.time(), 4),
               **{name: float(metrics[key]) for key, name in KEPT.items() if key in metrics}}
        if "loss" in row:  # OLMo-core logs a step's metrics together; write at once so a kill loses nothing
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")


@dataclass
class ProgressCallback(Callback):
    """A rich progress bar over optimizer steps, with the latest loss."""

    enabled: bool = True
    _progress: object = None
    _task: object = None
    _loss: float | None = None
    _start: float = field(default_factory=time.monotonic)

    def pre_train(self):
        if not self.enabled:
            return
        if not sys.stdout.isatty():
            return  # a log file or a pipe gets plain lines (post_step) instead of a bar it cannot redraw
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn())
        self._progress.start()
        self._task = self._progress.add_task("train", total=self.trainer.max_steps, completed=self.step, loss="-")

    def log_metrics(self, step: int, metrics: dict[str, float]):
        if "train/CE loss" in metrics:
            self._loss = float(metrics["train/CE loss"])

    def post_step(self):
        loss = f"{self._loss:.3f}" if self._loss is not None else "-"
        if self._progress is not None:
            self._progress.update(self._task, completed=self.step, loss=loss)
        elif self.enabled and get_rank() == 0:
            total = self.trainer.max_steps
            every = max(1, (total or 100) // 20)
            if self.step % every == 0 or self.step == total:
                print(f"step {self.step}/{total}: loss {loss} ({time.monotonic() - self._start:.0f} s)", flush=True)

    def close(self):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


@dataclass
class StopWhenAsked(Callback):
    """Checkpoint and stop once the file at `path` exists (OLMo-core's cancel: every rank stops at the same step,
    and the checkpointer saves that step); the file is removed when training starts."""

    path: str = "stop-requested"

    def pre_train(self):
        if get_rank() == 0:
            Path(self.path).unlink(missing_ok=True)

    def post_step(self):
        if Path(self.path).exists():
            self.trainer.cancel_run(f"stop requested ({self.path})")
