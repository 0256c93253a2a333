"""toxmix: data curation and mixing for LLM pretraining research.

The Python API (see `toxmix.app.api`) is imported lazily, so that the kernel (`toxmix.core`), which every stage
imports, stays free of the stages above it.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toxmix.app.api import Corpus, load_manifest, materialize, read_lock, resolve

__all__ = ["Corpus", "load_manifest", "materialize", "read_lock", "resolve"]


def __getattr__(name: str):
    if name in __all__:
        from toxmix.app import api

        return getattr(api, name)
    raise AttributeError(f"module 'toxmix' has no attribute {name!r}")
