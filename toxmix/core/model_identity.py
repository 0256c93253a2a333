"""The identity of a model, as probe runs, ITI files and eval results record it (no torch needed to read it)."""

import json
from pathlib import Path

from toxmix.core.records import Frozen


class ModelIdentity(Frozen):
    """What a model is: the name it was given and a digest of its weights (or the hub revision)."""

    name: str
    digest: str
    n_layers: int
    n_heads: int
    head_dim: int
    step: int | None = None  # the training step of the weights, for a toxmix export (0: untrained); else unknown


EXPORT_RECORD_FILE = "toxmix_export.json"  # written by `toxmix export` beside the weights (toxmix.train.record)


def export_step(folder: Path) -> int | None:
    """The training step a toxmix export folder's weights came from (None for any other model)."""
    try:
        step = json.loads((folder / EXPORT_RECORD_FILE).read_text()).get("step")
    except (OSError, ValueError, AttributeError):
        return None
    return step if isinstance(step, int) else None

