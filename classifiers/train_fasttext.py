"""Training a fastText toxicity classifier with Dolma's settings, and measuring it on held-out data."""

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import fasttext
import numpy as np
import xxhash
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from toxmix.classifiers.fasttext_scorer import fasttext_line
from toxmix.core.datasets import CLEAN, TOXIC, LabelRule, labelled_examples
from toxmix.core.errors import ToxmixError
from toxmix.core.files import atomic_path
from toxmix.core.settings import shared_path


@dataclass(frozen=True)
class LabelledSource:
    """One labelled dataset: where it is, how to label it, and which field holds the text."""

    path: str
    rule: str
    text_field: str | None = None
    name: str | None = None  # the dataset's name in recipes (davidson, stormfront, toxigen)

    @property
    def label(self) -> str:
        return self.name or self.path


STUDY_DATASETS = ("davidson", "stormfront", "toxigen")


def study_recipe(exclude: tuple[str, ...] = ()) -> list[LabelledSource]:
    """The offline default: Davidson 0/1 vs 2, Stormfront hate vs noHate, ToxiGen hate vs neutral, less any
    dataset named in `exclude` (e.g. ToxiGen, for a scorer that evaluates ToxiGen continuations)."""
    unknown = sorted(set(exclude) - set(STUDY_DATASETS))
    if unknown:
        raise ToxmixError(f"--exclude {unknown[0]!r}: the study recipe's datasets are {', '.join(STUDY_DATASETS)}")
    data = shared_path("data")
    sources = [
        LabelledSource(str(data / "davidson" / "labeled_data.csv"), "class=0,1/2", "tweet", "davidson"),
        LabelledSource(str(data / "stormfront" / "stormfront.jsonl.gz"), "label=hate/noHate", "text", "stormfront"),
        LabelledSource(str(data / "toxigen" / "prompts"), "file=hate_*/neutral_*", None, "toxigen"),
    ]
    kept = [s for s in sources if s.name not in exclude]
    if not kept:
        raise ToxmixError("--exclude left no dataset to train on")
    return kept


def training_sources(recipe: str | None = None, exclude: tuple[str, ...] = (), data: tuple[str, ...] = (),
                     label_rules: tuple[str, ...] = (), text_fields: tuple[str, ...] = ()) -> list[LabelledSource]:
    """What to train on: the study recipe (less `exclude`), or labelled files, one rule (and text field) for all
    or one per file; refused in one line when the combination does not fit."""
    if exclude and recipe is None:
        raise ToxmixError("--exclude goes with --recipe study; with --data, simply leave the file out")
    if recipe is not None:
        if recipe != "study":
            raise ToxmixError(f"unknown --recipe {recipe!r}; the only recipe is 'study'")
        if data:
            raise ToxmixError("give --recipe study or --data files, not both")
        return study_recipe(tuple(exclude))
    if not data:
        raise ToxmixError("give --data with --label-rule, or --recipe study; see --help")
    rules = list(label_rules) * len(data) if len(label_rules) == 1 else list(label_rules)
    if len(rules) != len(data):
        raise ToxmixError(f"{len(data)} --data but {len(label_rules)} --label-rule: give one rule, or one per --data")
    if text_fields and len(text_fields) not in (1, len(data)):
        raise ToxmixError("give one --text-field, or one per --data")
    fields = list(text_fields) * len(data) if len(text_fields) == 1 else list(text_fields) or [None] * len(data)
    for rule in set(rules):
        LabelRule.parse(rule)
    return [LabelledSource(d, r, f) for d, r, f in zip(data, rules, fields, strict=True)]


def fortunes() -> LabelledSource:
    """The shared BSD fortunes, offensive vs clean: out-of-domain data no recipe trains on."""
    return LabelledSource(str(shared_path("data", "fortunes")), "offensive=True/False", "text", "fortunes")


@dataclass
class FastTextParams:
    """fastText hyperparameters: Dolma's toxicity classifiers' (dim 100, 2M buckets, 5 epochs, lr 0.1), except word
    unigrams where Dolma uses bigrams: unigrams transfer better to datasets left out of training (BENCHMARKS.md)."""

    dim: int = 100
    word_ngrams: int = 1
    minn: int = 0  # character n-grams (0: none, as in Dolma)
    maxn: int = 0
    balance: bool = False  # train on as many toxic as clean examples of each dataset (majority down-sampled)
    bucket: int = 2_000_000
    epoch: int = 5
    lr: float = 0.1
    min_count: int = 1
    threads: int = 1
    seed: int = 0
    test_fraction: float = 0.1

    def __post_init__(self) -> None:
        small = [f"--{k.replace('_', '-')}" for k in ("dim", "word_ngrams", "bucket", "epoch", "min_count", "threads")
                 if getattr(self, k) < 1]
        if small:
            raise ToxmixError(f"{', '.join(small)} must be at least 1")
        if self.minn < 0 or self.maxn < self.minn:
            raise ToxmixError(f"--minn {self.minn} and --maxn {self.maxn}: character n-grams need 0 <= minn <= maxn")
        if not (0 < self.test_fraction < 1) or not (self.lr > 0):
            raise ToxmixError("the held-out fraction must lie in (0, 1) and the learning rate be positive")


@dataclass
class TrainReport:
    """Held-out quality of a trained classifier, with counts per dataset."""

    model: str
    train_examples: int
    test_examples: int
    precision: float
    recall: float
    roc_auc: float
    params: dict
    per_source: dict = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)  # what it was trained on, so eval can refuse an overlap


def _is_test(text: str, fraction: float, seed: int) -> bool:
    return xxhash.xxh64_intdigest(text, seed=seed) % 10_000 < fraction * 10_000


def _balanced(examples: list[tuple[str, str]], seed: int) -> list[tuple[str, str]]:
    """As many examples of each label as the rarer label has, the kept ones chosen by hash, order preserved."""
    by_label = {lab: [e for e in examples if e[1] == lab] for lab in (TOXIC, CLEAN)}
    n = min(len(v) for v in by_label.values())
    keep = set()
    for items in by_label.values():
        keep.update(sorted(items, key=lambda e: xxhash.xxh64_intdigest(e[0], seed=seed + 1))[:n])
    return [e for e in examples if e in keep]


def _fit_and_save(train_file: str, params: FastTextParams, quantize: bool, out_file: str,
                  attempts: int = 4) -> FastTextParams:
    """Train, quantize if asked, save; return the parameters that trained it. When training diverges
    ("Encountered NaN"; fastText's maintainers advise a lower learning rate), try again at half the rate."""
    for attempt in range(attempts):
        try:
            model = fasttext.train_supervised(
                input=train_file, dim=params.dim, wordNgrams=params.word_ngrams, bucket=params.bucket,
                epoch=params.epoch, lr=params.lr, minCount=params.min_count, thread=params.threads,
                minn=params.minn, maxn=params.maxn, seed=params.seed, verbose=0)
            break
        except RuntimeError as e:
            if "NaN" not in str(e) or attempt == attempts - 1:
                raise ToxmixError(f"fastText training failed ({e}) down to lr {params.lr:g}; lower --epoch or "
                                  "change the data") from None
            params = replace(params, lr=params.lr / 2)
    if quantize:
        model.quantize(input=train_file, retrain=False)
    model.save_model(out_file)
    return params


def _train_in_child(train_file: str, params: FastTextParams, quantize: bool, out_file: str) -> FastTextParams:
    """`_fit_and_save` in a fresh process: inside a long-lived process that has loaded other native libraries
    (torch, a GGUF model) fastText's training diverged on data it trains cleanly on in a fresh one."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_fit_and_save, train_file, params, quantize, out_file).result()


def train_fasttext(sources: list[LabelledSource], out: str, params: FastTextParams | None = None,
                   quantize: bool = False) -> TrainReport:
    """Train on all sources (deduplicated texts), hold out a hash-chosen split, save model and report."""
    params = params or FastTextParams()
    seen: set[str] = set()
    train, test, per_source = [], [], {}
    for src in sources:
        counts = {TOXIC: 0, CLEAN: 0}
        src_train = []
        for text, label in labelled_examples(src.path, LabelRule.parse(src.rule), src.text_field):
            line = fasttext_line(text)
            if not line or line in seen:
                continue
            seen.add(line)
            counts[label] += 1
            (test if _is_test(line, params.test_fraction, params.seed) else src_train).append((line, label))
        if not sum(counts.values()):
            raise ToxmixError(f"no labelled examples in {src.path} under rule {src.rule!r}; check the field names")
        per_source[src.label] = counts
        train += _balanced(src_train, params.seed) if params.balance else src_train
    if not test or len({lab for _, lab in train}) < 2:
        raise ToxmixError("need examples of both labels in training and some held out; add data")

    out_path = Path(out).expanduser()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        for line, label in train:
            f.write(f"__label__{label} {line}\n")
        train_file = f.name
    try:
        with atomic_path(out_path) as tmp:
            params = _train_in_child(train_file, params, quantize, str(tmp))
    finally:
        os.unlink(train_file)
    model = fasttext.load_model(str(out_path))

    labels, probs = model.predict([line for line, _ in test], k=2)
    p_toxic = np.array([dict(zip(lab, p, strict=True)).get(f"__label__{TOXIC}", 0.0)
                        for lab, p in zip(labels, probs, strict=True)])
    y = np.array([lab == TOXIC for _, lab in test])
    report = TrainReport(
        model=str(out_path), train_examples=len(train), test_examples=len(test),
        precision=float(precision_score(y, p_toxic > 0.5, zero_division=0)),
        recall=float(recall_score(y, p_toxic > 0.5, zero_division=0)),
        roc_auc=float(roc_auc_score(y, p_toxic)) if len(set(y)) == 2 else float("nan"),
        params=asdict(params), per_source=per_source, datasets=[s.label for s in sources],
    )
    out_path.with_name(out_path.name + ".report.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report
