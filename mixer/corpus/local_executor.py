"""datatrove pieces of toxmix's own: a one-worker local executor that runs in process, and a one-call step."""

from collections.abc import Callable
from copy import deepcopy

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger
from datatrove.utils.stats import PipelineStats


class CallOnce(PipelineStep):
    """A one-task pipeline step that calls `call()`: the work that must come before or after every task of a run."""

    name = "call once"
    type = "toxmix"

    def __init__(self, call: Callable[[], None]):
        super().__init__()
        self.call = call

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        self.call()
        return data or ()


class InProcessExecutor(LocalPipelineExecutor):
    """datatrove's local executor for one worker: the tasks run one after another in this process.

    datatrove's own starts a `multiprocess.Manager` even for one worker, a forked process that lives as long as
    the run; while it does, every page this process writes is first copied (copy-on-write), which made the first
    tokenizer batch of an ingest 1.4-1.5x slower. With one worker no queue between processes is needed.
    """

    def run(self) -> PipelineStats:
        if self.workers != 1:
            return super().run()
        self._launched = True
        ranks = self.get_incomplete_ranks(range(self.local_rank_offset, self.local_rank_offset + self.local_tasks))
        if not ranks:
            logger.info(f"Not doing anything as all {self.local_tasks} tasks have already been completed.")
            return PipelineStats()
        self.save_executor_as_json()
        pipeline, stats = self.pipeline, []
        for rank in ranks:
            self.pipeline = deepcopy(pipeline)  # each task starts from the steps as configured, as datatrove's does
            stats.append(self._run_for_rank(rank, 0))
        self.pipeline = pipeline
        merged = sum(stats, start=PipelineStats())
        with self.logging_dir.open("stats.json", "wt") as statsfile:
            merged.save_to_disk(statsfile)
        logger.success(merged.get_repr(f"All {self.local_tasks} tasks"))
        return merged
