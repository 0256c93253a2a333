"""Process-wide settings read from the environment."""

import os
from pathlib import Path

DEFAULT_TOKENIZER = "allenai/gpt-neox-olmo-dolma-v1_5"
REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """The shared data folder: $TOXMIX_SHARED, else ../shared beside the repository."""
    env = os.environ.get("TOXMIX_SHARED")
    if env:
        return Path(env).expanduser().resolve()
    cwd_candidate = Path("../shared").resolve()
    if cwd_candidate.is_dir():
        return cwd_candidate
    return (REPO_ROOT.parent / "shared").resolve()


def shared_path(*parts: str) -> Path:
    """A path inside the shared data folder."""
    return shared_dir().joinpath(*parts)


def default_threads() -> int:
    """Threads for compute: the cores this process may use, or fewer if $OMP_NUM_THREADS asks.

    More threads than cores (oversubscription) makes CPU training several times slower, so a larger
    $OMP_NUM_THREADS is capped at the core count.
    """
    cores = max(1, len(os.sched_getaffinity(0)))
    env = os.environ.get("OMP_NUM_THREADS", "")
    return min(cores, int(env)) if env.isdigit() and int(env) > 0 else cores
