"""The datatrove step that wraps any scorer: score documents in batches, attach the scores."""

from itertools import islice

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from tqdm import tqdm

from toxmix.classifiers.spec import ScorerSpec, build_scorer

SCORES = "toxmix_scores"


class ScoreDocuments(PipelineStep):
    """Attach `metadata['toxmix_scores'][scorer name]` = a row of label probabilities to each document."""

    name = "🧪 Score"
    type = "🔍 - TAGGER"

    def __init__(self, spec: ScorerSpec, progress: bool = False):
        super().__init__()
        self.spec = spec
        self.progress = progress

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        scorer = build_scorer(self.spec)
        it = iter(data)
        # one update per batch: a per-document progress bar costs ~20 % at fastText speeds
        with tqdm(desc=f"{scorer.name} task {rank}", unit="doc", disable=not self.progress) as bar:
            while batch := list(islice(it, scorer.batch_size)):
                with self.track_time(unit="batch"):
                    scores = scorer.score([doc.text for doc in batch])
                for doc, row in zip(batch, scores, strict=True):
                    doc.metadata.setdefault(SCORES, {})[scorer.name] = row
                self.stat_update("scored", value=len(batch))
                bar.update(len(batch))
                yield from batch
