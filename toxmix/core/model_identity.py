"""The identity of a model, as probe runs, ITI files and eval results record it (no torch needed to read it)."""

from toxmix.core.records import Frozen


class ModelIdentity(Frozen):
    """What a model is: the name it was given and a digest of its weights (or the hub revision)."""

    name: str
    digest: str
    n_layers: int
    n_heads: int
    head_dim: int

