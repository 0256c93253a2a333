"""A probe run: probe every head of a model on labelled texts and write the results a later stage reads.

`OUT/probe.json` (a `ProbeRun`), `heads.parquet` (layer, head, accuracies, AUC, entanglement), `directions.npy`,
`val_scores.npy` + `val_labels.npy` (for comparisons that resample examples), `labels.npy` (all examples, for
ITI), `heatmap.png`, and the activation cache `activations-<key>.npy` (row i is example i).
"""

from importlib.metadata import version
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import ConfigDict, Field

from toxmix.core.console import ProgressFactory
from toxmix.core.errors import ToxmixError
from toxmix.core.files import atomic_path, canonical_sha256
from toxmix.core.model_identity import ModelIdentity
from toxmix.core.models import LoadedModel
from toxmix.core.records import Config, Frozen, Record
from toxmix.probe.activations import cache_key, cached_collect, count_truncated
from toxmix.probe.data import MIN_PER_CLASS, PROBE_DATASETS, ProbeData, load_probe_data, split_mask, subsample
from toxmix.probe.probes import HeadProbes, entanglement, fit_probes, group_directions

PROBE_RUN_VERSION = 1


class DataRef(Frozen):
    """The labelled texts a run probed: where from, their digest, counts and target groups."""

    source: str
    digest: str
    examples: int
    toxic: int
    groups: list[str]


class SplitRef(Frozen):
    """The train/validation split: seed, key (text or group) and sizes."""

    seed: int
    by: str
    train: int
    val: int


class ProbeSummary(Frozen):
    """Headline numbers of a run: accuracies over heads, the best head, entanglement."""

    mean_val_accuracy: float
    top_k: int
    top_k_mean_val_accuracy: float
    best_head: tuple[int, int]
    best_val_accuracy: float
    best_val_auc: float
    mean_entanglement_max: float | None
    top_k_entanglement_max: float | None


class ProbeRun(Record):
    """probe.json: what was probed with what, and the headline numbers."""

    model_config = ConfigDict(frozen=True)
    KIND: ClassVar[str] = "probe run"
    VERSION: ClassVar[int] = PROBE_RUN_VERSION
    REMEDY: ClassVar[str] = "probe the model with 'toxmix probe MODEL --out DIR'"

    version: int = PROBE_RUN_VERSION
    toxmix_version: str
    model: ModelIdentity
    data: DataRef
    split: SplitRef
    max_length: int
    truncated: int
    activations: str
    summary: ProbeSummary

    @property
    def digest(self) -> str:
        return canonical_sha256(self.model_dump(mode="json"))

    @classmethod
    def load(cls, run_dir: str | Path) -> "ProbeRun":
        return cls.read(Path(run_dir) / "probe.json")


TOP_K = 30


def top_k_mean(values: np.ndarray, k: int) -> float:
    """Mean of the k largest values."""
    flat = np.sort(values.ravel())[::-1]
    return float(flat[:k].mean())


def probe_model(lm: LoadedModel, data: ProbeData, out: Path, seed: int = 0, split_by: str = "text",
                batch_size: int = 32, max_length: int | None = None, on_batch=None, on_layer=None) -> ProbeRun:
    """Collect activations (cached), fit every head's probe, measure entanglement, write the run folder."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    max_length = min(max_length or lm.max_length, lm.max_length)
    train = np.asarray(split_mask(data, seed, split_by))
    labels = np.asarray(data.labels)
    for part, mask in (("training", train), ("validation", ~train)):
        if len(set(labels[mask])) < 2:
            raise ToxmixError(f"the {part} split has one class only; use more data or --split-by text")
    truncated = count_truncated(lm, data.texts, max_length)
    acts = cached_collect(lm, data.texts, data.digest, out, batch_size, max_length, on_batch)
    probes = fit_probes(acts, labels, train, seed, on_layer)
    ent_max, ent_mean = entanglement(probes.directions, group_directions(acts, labels, data.groups))
    activations = f"activations-{cache_key(lm, data.digest, max_length)}.npy"
    return _write(out, lm, data, probes, ent_max, ent_mean, train, seed, split_by, max_length, truncated, activations)


def _write(out: Path, lm: LoadedModel, data: ProbeData, probes: HeadProbes, ent_max: np.ndarray,
           ent_mean: np.ndarray, train: np.ndarray, seed: int, split_by: str, max_length: int, truncated: int,
           activations: str) -> ProbeRun:
    import pyarrow.parquet as pq

    n_layers, n_heads = probes.val_accuracy.shape
    layer, head = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    table = pa.table({"layer": layer.ravel(), "head": head.ravel(),
                      "train_accuracy": probes.train_accuracy.ravel(), "val_accuracy": probes.val_accuracy.ravel(),
                      "val_auc": probes.val_auc.ravel(), "entanglement_max": ent_max.ravel(),
                      "entanglement_mean": ent_mean.ravel()})
    with atomic_path(out / "heads.parquet") as tmp:
        pq.write_table(table, tmp)
    labels = np.asarray(data.labels, dtype=np.int8)
    for name, arr in (("directions", probes.directions.astype(np.float32)), ("val_scores", probes.val_scores),
                      ("labels", labels), ("val_labels", labels[~train])):
        with atomic_path(out / f"{name}.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, arr)
    k = min(TOP_K, n_layers * n_heads)
    best = np.unravel_index(np.argmax(probes.val_accuracy), probes.val_accuracy.shape)
    order = np.argsort(probes.val_accuracy.ravel())[::-1][:k]
    has_ent = not np.isnan(ent_max).all()
    summary = ProbeSummary(
        mean_val_accuracy=float(probes.val_accuracy.mean()), top_k=k,
        top_k_mean_val_accuracy=top_k_mean(probes.val_accuracy, k), best_head=(int(best[0]), int(best[1])),
        best_val_accuracy=float(probes.val_accuracy[best]), best_val_auc=float(probes.val_auc[best]),
        mean_entanglement_max=float(np.nanmean(ent_max)) if has_ent else None,
        top_k_entanglement_max=float(np.nanmean(ent_max.ravel()[order])) if has_ent else None)
    run = ProbeRun(
        toxmix_version=version("toxmix"), model=lm.identity,
        data=DataRef(source=data.source, digest=data.digest, examples=len(data), toxic=int(sum(data.labels)),
                     groups=sorted(set(data.groups))),
        split=SplitRef(seed=seed, by=split_by, train=int(train.sum()), val=int((~train).sum())),
        max_length=max_length, truncated=truncated, activations=activations, summary=summary)
    from toxmix.probe.plots import heatmap

    name = Path(lm.identity.name).name
    heatmap(probes.val_accuracy, out / "heatmap.png", f"{name}: validation accuracy per head", name)
    run.write(out / "probe.json")
    return run


class ProbeConfig(Config):
    """Everything `toxmix probe MODEL` was asked to do; validated when built, from the command or from Python."""

    FLAGS: ClassVar[dict[str, str]] = {"model": "MODEL"}

    model: str
    out: Path
    data: str = "toxigen"
    label_rule: str | None = None
    text_field: str | None = None
    group_field: str | None = None
    split_by: Literal["text", "group"] = "text"
    seed: int = 0
    max_examples: Annotated[int, Field(ge=MIN_PER_CLASS * 2)] | None = None
    batch_size: Annotated[int, Field(ge=1)] = 32
    max_length: Annotated[int, Field(ge=2)] | None = None

    def check(self) -> None:
        if self.data not in PROBE_DATASETS and self.label_rule is None:
            raise ToxmixError(f"--data {self.data}: give --label-rule FIELD=TOXIC/CLEAN (e.g. label=1/0), or use "
                              "--data toxigen")




def run_probe(cfg: ProbeConfig, progress: ProgressFactory | None = None) -> ProbeRun:
    """Load the data and the model a config names, probe every head, write the run folder."""
    from toxmix.core.models import load_model

    progress = progress or (lambda _name, _total: lambda _n: None)
    examples = load_probe_data(cfg.data, cfg.label_rule, cfg.text_field, cfg.group_field)
    if cfg.max_examples:
        examples = subsample(examples, cfg.max_examples, cfg.seed)
    lm = load_model(cfg.model)
    ident = lm.identity
    layer_done = progress(f"probes ({ident.n_layers} layers x {ident.n_heads} heads)", ident.n_layers)
    return probe_model(lm, examples, cfg.out, seed=cfg.seed, split_by=cfg.split_by, batch_size=cfg.batch_size,
                       max_length=cfg.max_length, on_batch=progress("activations", len(examples)),
                       on_layer=lambda _layer: layer_done(1))
