"""Writing one attribute table per scorer for the document shard a task read."""

from itertools import islice
from pathlib import Path

import numpy as np
import pyarrow as pa
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

import toxmix.mixer.corpus.quiet  # noqa: F401 - quiets datatrove task logs in this process and in pool workers
from toxmix.classifiers.step import SCORES
from toxmix.core.processes import exit_with_parent_if_worker
from toxmix.mixer.corpus.store import CorpusLayout
from toxmix.mixer.corpus.writers.parquet_shard import ParquetShard


def attribute_schema(labels: list[str]) -> pa.Schema:
    """id and source, then one float32 column per label."""
    return pa.schema([("id", pa.string()), ("source", pa.string())] + [(lab, pa.float32()) for lab in labels])


class WriteAttributes(PipelineStep):
    """Write `attributes/<scorer>/<source>/<shard>.parquet`, row-aligned with the document shard."""

    name = "🏷 Write attributes"
    type = "💽 - WRITER"

    def __init__(self, corpus: str, shards: list[str], scorers: dict[str, list[str]], batch_size: int = 4096):
        super().__init__()
        self.corpus = corpus
        self.shards = shards  # task rank -> "documents/<source>/<shard>.parquet"
        self.scorers = scorers  # name -> labels
        self.batch_size = batch_size

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        exit_with_parent_if_worker()  # a killed command takes its pool workers with it
        _, source, shard = Path(self.shards[rank]).parts
        outputs = {
            name: ParquetShard(CorpusLayout.at(self.corpus).attributes(name, source) / shard,
                                attribute_schema(labels))
            for name, labels in self.scorers.items()
        }
        try:
            it = iter(data)
            while batch := list(islice(it, self.batch_size)):
                ids = pa.array([d.id for d in batch], pa.string())
                src = pa.array([source] * len(batch), pa.string())
                for name, shard_out in outputs.items():
                    scores = np.stack([d.metadata[SCORES][name] for d in batch]).astype(np.float32)
                    cols = [ids, src] + [pa.array(scores[:, j]) for j in range(scores.shape[1])]
                    shard_out.write(pa.Table.from_arrays(cols, schema=shard_out.schema))
                self.stat_update("written", value=len(batch))
        except BaseException:
            for shard_out in outputs.values():
                shard_out.abort()
            raise
        for shard_out in outputs.values():
            shard_out.close()
        return
        yield
