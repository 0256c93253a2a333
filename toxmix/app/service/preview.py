"""A manifest's resolution previewed without writing anything: the checks of `toxmix manifest validate` and the
tokens and documents each component could draw, in a child process bounded as a user query is."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from toxmix.core.errors import ToxmixError
from toxmix.mixer.corpus.bounded import Limits


def _preview(text: str, path: str, limits: Limits) -> dict:
    """In the child: parse as the file at `path`, check against the corpus, count what each component could draw."""
    from toxmix.mixer.corpus.bounded import guarded
    from toxmix.mixer.corpus.catalog import bounded
    from toxmix.mixer.manifest.check import check_manifest
    from toxmix.mixer.manifest.resolve import check_feasible
    from toxmix.mixer.manifest.schema import parse_manifest

    try:
        with guarded(limits):
            checked = check_manifest(parse_manifest(text, Path(path)), limits.memory_limit, limits.spill_limit)
            with bounded(checked.con, limits.timeout):
                available = check_feasible(checked.con, checked.file.manifest, checked.compiled)
    except ToxmixError as e:
        return {"feasible": False, "error": str(e).replace(f"{path}: ", "")}
    total = sum(checked.budgets.values())
    return {"feasible": True, "name": checked.file.name, "components": [
        {"name": name, "budget": budget, "share": round(budget / total, 4) if total else 0.0,
         "available_docs": available[name][0], "available_tokens": available[name][1]}
        for name, budget in checked.budgets.items()]}


def preview(text: str, path: Path, limits: Limits) -> dict:
    """The preview of `text` as the manifest at `path`; a child that passes its limits is one line, not a crash."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        future = pool.submit(_preview, text, str(path), limits)
        try:
            return future.result(timeout=(limits.timeout or 600) + 60)
        except (FutureTimeout, BrokenProcessPool):
            for process in list(pool._processes.values()):  # a stuck child goes with its pool
                process.kill()
            return {"feasible": False, "error": f"the preview passed its limits ({limits.timeout} s, "
                                                 f"{limits.memory_limit}); simplify the where predicates"}
