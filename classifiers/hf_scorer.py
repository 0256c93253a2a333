"""Hugging Face sequence-classification scorer (e.g. tomh/toxigen_roberta), batched."""

from pathlib import Path

import numpy as np
import torch

from toxmix.classifiers.base import Scorer, column_name
from toxmix.classifiers.hub import resolve_model_dir
from toxmix.core.files import file_digest


def _version(ref: str, config) -> str:
    """A digest of the local weight and config files, or the hub commit."""
    local = Path(ref)
    if local.is_dir():
        files = sorted(p for p in local.iterdir() if p.suffix in (".safetensors", ".bin", ".json"))
        return file_digest(*files)
    return str(getattr(config, "_commit_hash", None) or ref)


class HFClassifierScorer(Scorer):
    """Class probabilities from any AutoModelForSequenceClassification, by hub id or local directory."""

    def __init__(self, model: str, name: str | None = None, batch_size: int = 32, max_length: int = 512,
                 device: str = "cpu"):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        ref = resolve_model_dir(model)
        self.tokenizer = AutoTokenizer.from_pretrained(ref)
        self.model = AutoModelForSequenceClassification.from_pretrained(ref).to(device).eval()
        config = self.model.config
        self.multi_label = config.problem_type == "multi_label_classification"
        id2label = config.id2label or {i: f"label_{i}" for i in range(config.num_labels)}
        self.labels = [column_name(str(id2label[i])) for i in range(config.num_labels)]
        self.name = name or f"hf_{column_name(ref.rstrip('/').rsplit('/', 1)[-1])}"
        self.version = _version(ref, config)
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device

    @torch.inference_mode()
    def score(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt").to(self.device)
        logits = self.model(**enc).logits.float()
        probs = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
        return probs.cpu().numpy().astype(np.float32)
