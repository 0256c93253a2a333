"""Detoxify scorer: its released models when online, or a local checkpoint with a local config offline.

Detoxify builds its model with `from_pretrained(model_type)`, where model_type comes from the checkpoint
(e.g. `bert-base-uncased`), so it reaches the hub even for a local checkpoint. Here the checkpoint is read
with `weights_only=True`, and when a local config directory is given it replaces model_type, so every
`from_pretrained` call resolves on disk.
"""

from pathlib import Path

import numpy as np
import torch

from toxmix.classifiers.base import Scorer, column_name
from toxmix.core.errors import ToxmixError
from toxmix.core.files import file_digest

RELEASES = ("original", "unbiased", "multilingual", "original-small", "unbiased-small")


def _load_checkpoint(model_type: str, checkpoint: str | None) -> tuple[dict, str]:
    if checkpoint is None:
        from detoxify.detoxify import MODEL_URLS

        if model_type not in MODEL_URLS:
            raise ToxmixError(f"unknown Detoxify model {model_type!r}; use one of: {', '.join(RELEASES)}")
        url = MODEL_URLS[model_type]
        path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(path))
    else:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise ToxmixError(f"Detoxify checkpoint not found: {checkpoint}")
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    if "config" not in loaded or "state_dict" not in loaded:
        raise ToxmixError(f"{path} is not a Detoxify checkpoint: it needs 'config' and 'state_dict'")
    return loaded, file_digest(path)


class DetoxifyScorer(Scorer):
    """Detoxify's per-class sigmoid scores (toxicity, severe_toxicity, obscene, ...)."""

    def __init__(self, model: str = "original", checkpoint: str | None = None, config: str | None = None,
                 name: str | None = None, batch_size: int = 32, device: str = "cpu"):
        from detoxify import Detoxify
        from detoxify.detoxify import get_model_and_tokenizer

        loaded, self.version = _load_checkpoint(model, checkpoint)
        arch = dict(loaded["config"]["arch"]["args"])
        if config is not None:
            arch["model_type"] = str(Path(config).expanduser().resolve())
        net, tokenizer = get_model_and_tokenizer(
            **arch, state_dict=loaded["state_dict"], huggingface_config_path=arch["model_type"] if config else None
        )
        renames = {"toxic": "toxicity", "identity_hate": "identity_attack", "severe_toxic": "severe_toxicity"}
        classes = [renames.get(c, c) for c in loaded["config"]["dataset"]["args"]["classes"]]
        # reuse Detoxify's own predict(): same tokenization, truncation and sigmoid as the release
        self.detox = Detoxify.__new__(Detoxify)
        self.detox.model, self.detox.tokenizer, self.detox.class_names = net.to(device), tokenizer, classes
        self.detox.device = device
        self.labels = [column_name(c) for c in classes]
        self.name = name or f"detoxify_{column_name(model)}"
        self.batch_size = batch_size

    def score(self, texts: list[str]) -> np.ndarray:
        result = self.detox.predict(list(texts))
        cols = [np.atleast_1d(np.asarray(result[c], dtype=np.float32)) for c in self.detox.class_names]
        return np.stack(cols, axis=1)
