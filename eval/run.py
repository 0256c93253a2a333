"""`evaluate`: generation toxicity, cross-entropy and downstream tasks for one model, under every condition asked
for (base, ITI at each α, the prompting baseline, a MEDA/INST prefix), written to an eval folder."""

import time
from contextlib import nullcontext
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from pydantic import Field

from toxmix.core.console import ProgressFactory
from toxmix.core.errors import ToxmixError
from toxmix.core.files import file_sha256
from toxmix.core.models import LoadedModel, load_model
from toxmix.core.records import Config
from toxmix.eval.capability import cross_entropy, held_out_from_file
from toxmix.eval.generate import PROMPTING_PREFIX, Condition, generate
from toxmix.eval.metrics import figures_by_group, toxicity_figures
from toxmix.eval.prompts import PromptSet, rtp_prompts, toxigen_prompts
from toxmix.eval.result import (
    GENERATIONS_FILE,
    ConditionResult,
    CrossEntropy,
    EvalResult,
    ITIRef,
    ModelRef,
    PromptSetRef,
    Sampling,
)
from toxmix.eval.scoring import build_toxicity_scorer, check_overlap
from toxmix.eval.tasks import TASKS, load_items, request_count, score_task
from toxmix.probe.iti import load_iti, steer
from toxmix.train.record import ExportRecord

# Generation-time prefixes of the data-side baselines, matching mixer.manifest.transforms' defaults for the
# low-toxicity bucket: a MEDA or INST model is asked for what it learned to associate with clean text.
PREFIXES = {"prompting": PROMPTING_PREFIX, "meda": "<|toxicity:low|>", "inst": "The following text is not toxic:"}



class EvalConfig(Config):
    """Everything `toxmix eval` was asked to do; validated when built, from the command or from Python."""

    FLAGS: ClassVar[dict[str, str]] = {"model": "MODEL", "toxigen_n": "--toxigen", "rtp_n": "--rtp",
                                       "toxigen": "--toxigen-data", "rtp": "--rtp-data", "alphas": "--alpha",
                                       "scorer_label": "--label-column"}

    model: str
    out: Path
    scorer: str | None = None  # needed to score generations; without prompts only capability is measured
    label: str | None = None
    scorer_label: str | None = None
    allow_overlap: bool = False
    perspective_url: str | None = None
    iti: Path | None = None
    alphas: tuple[Annotated[float, Field(allow_inf_nan=False)], ...] = (4.0, 8.0, 12.0)
    positions: Literal["all", "generated"] = "all"
    prompting: bool = False
    prefix: str | None = None  # meda | inst | any text
    toxigen: str = "toxigen"
    toxigen_n: Annotated[int, Field(ge=0)] | None = 3000
    rtp: str = "rtp-sample"
    rtp_n: Annotated[int, Field(ge=0)] | None = 3000
    sampling: Sampling = Sampling()
    ce: str | None = None  # a manifest (its lock's unselected clean documents), a text file, or 'none'
    ce_docs: Annotated[int, Field(ge=1)] = 200
    ce_tokens: Annotated[int, Field(ge=1)] = 512
    tasks: tuple[str, ...] = ()
    task_docs: Annotated[int, Field(ge=1)] | None = 200
    threads: Annotated[int, Field(ge=1)] = 1
    bootstrap: Annotated[int, Field(ge=1)] = 1000
    perspective_qps: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0
    perspective_retries: Annotated[int, Field(ge=0)] = 5

    def check(self) -> None:
        if self.prompted and self.scorer is None:
            raise ToxmixError("--scorer is needed to score generations (e.g. fasttext:models/eval-scorer.bin); "
                              "with --toxigen 0 --rtp 0 only capability is measured")
        if not self.prompted and self.ce == "none" and not self.tasks:
            raise ToxmixError("--toxigen 0 --rtp 0 --ce none and no --tasks leave nothing to measure")
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown:
            raise ToxmixError(f"unknown task {unknown[0]!r}; tasks: {', '.join(TASKS)}")


    @property
    def prompted(self) -> bool:
        """Whether any prompts are asked for (toxicity is measured)."""
        return self.toxigen_n != 0 or self.rtp_n != 0


def _model_ref(lm: LoadedModel, spec: str) -> ModelRef:
    path = Path(spec)
    return ModelRef(identity=lm.identity, export=ExportRecord.find(path) if path.is_dir() else None)


def _ce_texts(cfg: EvalConfig, ref: ModelRef, notes: list[str]) -> tuple[list[str], str] | None:
    """Held-out clean texts and a description of where they came from (None to skip cross-entropy)."""
    if cfg.ce == "none":
        return None
    spec = cfg.ce or (ref.export.manifest if ref.export else None)
    if spec is None:
        notes.append("cross-entropy skipped: the model was not trained by toxmix; give --ce MANIFEST or --ce FILE")
        return None
    if spec.endswith((".yaml", ".yml")):
        from toxmix.mixer.manifest.heldout import held_out_clean

        return held_out_clean(spec, cfg.ce_docs, cfg.sampling.seed)
    return held_out_from_file(spec, cfg.ce_docs, cfg.sampling.seed), f"{spec}"


def conditions(cfg: EvalConfig) -> list[Condition]:
    """The conditions to run, base first."""
    out = [Condition(method="base")]
    if cfg.iti is not None:
        out += [Condition(method="iti", alpha=a, positions=cfg.positions) for a in cfg.alphas if a != 0]
    if cfg.prompting:
        out.append(Condition(method="prompting", prefix=PREFIXES["prompting"]))
    if cfg.prefix:
        name = cfg.prefix if cfg.prefix in ("meda", "inst") else "prefix"
        out.append(Condition(method=name, prefix=PREFIXES.get(cfg.prefix, cfg.prefix)))
    return out


def evaluate(cfg: EvalConfig, progress: ProgressFactory | None = None) -> EvalResult:
    """Run the evaluation and write result.json and generations.parquet under cfg.out."""
    progress = progress or (lambda _name, _total: lambda _n: None)
    start = time.monotonic()
    notes: list[str] = []
    sets: list[PromptSet] = []
    if cfg.toxigen_n != 0:
        sets.append(toxigen_prompts(cfg.toxigen, cfg.toxigen_n, cfg.sampling.seed))
    if cfg.rtp_n != 0:
        sets.append(rtp_prompts(cfg.rtp, cfg.rtp_n, cfg.sampling.seed))
    for ps, asked in zip(sets, [n for n in (cfg.toxigen_n, cfg.rtp_n) if n != 0], strict=True):
        if asked is not None and len(ps) < asked:
            notes.append(f"{ps.name}: asked for {asked:,} prompts, but {ps.source} holds {len(ps):,}; all "
                         f"{len(ps):,} were used")
    scorer = overlap = None
    if sets:
        scorer = build_toxicity_scorer(cfg.scorer, cfg.scorer_label, cfg.perspective_url, cfg.out / "cache",
                                       cfg.perspective_qps, cfg.perspective_retries)
        overlap = check_overlap(scorer.identity, [s.name for s in sets], cfg.allow_overlap)
        if overlap:
            notes.append(overlap)
        if scorer.identity.trained_on is None:
            notes.append(f"the training data of scorer {cfg.scorer} is unknown: check it did not see these prompts")
    torch.set_num_threads(cfg.threads)
    lm = load_model(cfg.model)
    ref = _model_ref(lm, cfg.model)
    iti = iti_ref = None
    if cfg.iti is not None:
        iti = load_iti(cfg.iti, lm.identity)
        iti_ref = ITIRef(path=str(cfg.iti.resolve()), sha256=file_sha256(cfg.iti), heads=len(iti.meta.heads),
                         probe_run=iti.meta.probe_run)
    ce_source = _ce_texts(cfg, ref, notes)
    items = {t: load_items(t, cfg.task_docs, cfg.sampling.seed) for t in cfg.tasks}
    cfg.out.mkdir(parents=True, exist_ok=True)
    frames, results = [], []
    base_capability: tuple[CrossEntropy | None, list] = (None, [])
    for cond in conditions(cfg):
        toxicity, groups, cached_all = {}, {}, True
        for ps in sets:
            table, cached = generate(lm, ps, cfg.sampling, cond, iti, iti_ref.sha256 if iti_ref else None,
                                     progress(f"{cond.label}: {ps.name} generations", len(ps)))
            cached_all &= cached
            df = table.to_pandas()
            df["toxicity"] = scorer.score(df["text"].tolist())
            df.insert(0, "set", ps.name)
            df.insert(0, "alpha", cond.alpha)
            df.insert(0, "method", cond.method)
            df.insert(0, "condition", cond.label)
            frames.append(df)
            toxicity[ps.name] = toxicity_figures(df, cfg.bootstrap, cfg.sampling.seed)
            groups[ps.name] = figures_by_group(df, cfg.bootstrap, cfg.sampling.seed)
        if cond.method in ("base", "iti"):
            # capability is measured with every position shifted, as a baked (--export) model would run
            ctx = steer(lm, iti, cond.alpha) if cond.method == "iti" else nullcontext()
            with ctx:
                ce = None
                if ce_source is not None:
                    texts, where = ce_source
                    ce = cross_entropy(lm, texts, where, cfg.ce_tokens,
                                       on_batch=progress(f"{cond.label}: cross-entropy", len(texts)))
                tasks = [score_task(lm, t, its, on_batch=progress(f"{cond.label}: {t}", request_count(its)))
                         for t, its in items.items()]
            if cond.method == "base":
                base_capability = (ce, tasks)
        else:
            ce, tasks = base_capability  # a text prefix on prompts leaves the model, and so its capability, as is
        results.append(ConditionResult(method=cond.method, alpha=cond.alpha, prefix=cond.prefix, label=cond.label,
                                       toxicity=toxicity, groups=groups, cross_entropy=ce, tasks=tasks,
                                       cached_generations=cached_all))
    if frames:
        frame = pd.concat(frames, ignore_index=True)
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), cfg.out / GENERATIONS_FILE)
    else:  # capability only: no generations, and none left from an earlier run of this folder
        (cfg.out / GENERATIONS_FILE).unlink(missing_ok=True)
    if scorer and scorer.failures:
        notes.append("unscored generations (counted as missing, never as 0): "
                     + ", ".join(f"{k} {v}" for k, v in sorted(scorer.failures.items())))
    result = EvalResult(
        toxmix_version=version("toxmix"),
        label=cfg.label or (ref.export.run_name if ref.export else Path(cfg.model).name), model=ref,
        iti=iti_ref, scorer=scorer.identity if scorer else None, scorer_overlap=overlap,
        scorer_failures=scorer.failures if scorer else {},
        sampling=cfg.sampling, threads=cfg.threads, bootstrap=cfg.bootstrap,
        prompt_sets=[PromptSetRef(name=s.name, source=s.source, prompts=len(s), digest=s.digest) for s in sets],
        conditions=results, notes=notes, seconds=round(time.monotonic() - start, 1))
    result.save(cfg.out)
    return result
