"""`toxmix demo`: the study in miniature, every stage run by the `toxmix` command itself, resumable by stage.

Each stage is a list of `toxmix` command lines, run as child processes exactly as a user would type them (one
implementation: the CLI's), and logged complete (folder and environment included) so any of them can be rerun by
pasting it. A stage that finishes writes `OUT/stages/NN-name.json` with its commands, time and the digests of its
outputs; a rerun skips a stage only while every output it recorded is still there unchanged, so a killed demo
resumes at the stage it was in (the commands are themselves resumable) and a deleted or edited output is made
again. Figures that no single command draws (mixture composition, training curves) are drawn here from the
stages' typed files, and the last stage's `toxmix report` gathers everything into one HTML file.
"""

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from toxmix.core.console import out as console
from toxmix.core.errors import ToxmixError
from toxmix.core.figures import save_figure
from toxmix.core.files import file_digest, write_json
from toxmix.core.settings import default_threads, shared_dir


@dataclass(frozen=True)
class Profile:
    """How much of the study to run."""

    name: str
    sweep: tuple[float, ...]  # toxic shares written as manifests
    train: tuple[float, ...]  # shares trained
    seeds: tuple[int, ...]
    clean_tokens: int
    steps: int
    heads: int
    toxigen: int
    rtp: int
    k: int
    tasks: tuple[str, ...]
    task_docs: int
    ce_docs: int
    toy: tuple[str, ...]  # toy options
    minutes: int  # the budget on 2 cores


PROFILES = {
    "quick": Profile("quick", (0.0, 0.10, 0.25), (0.0, 0.10), (0,), 400_000, 24, 2, 20, 20, 3,
                     ("piqa", "arc_easy"), 40, 40,
                     ("--shares", "0.01,0.33", "--n-seeds", "2", "--steps", "300", "--batch", "32"), 10),
    "full": Profile("full", (0.0, 0.05, 0.10, 0.15, 0.20, 0.25), (0.0, 0.10), (0, 1), 900_000, 300, 4, 100,
                    100, 5, ("piqa", "arc_easy", "hellaswag", "sciq"), 100, 200,
                    ("--shares", "0.01,0.05,0.1,0.2,0.33", "--n-seeds", "4", "--steps", "1000"), 60),
}


@dataclass
class Stage:
    """A named step: toxmix command lines, then optionally a Python function (figures)."""

    name: str
    commands: list[list[str]]
    outputs: list[str]  # files (relative to the demo folder) the stage makes: it is done while they are intact
    before: Callable[[], None] | None = None
    after: Callable[[], None] | None = None
    logs: list[Path] = field(default_factory=list)


def _share_name(share: float) -> str:
    return f"demo-{round(share * 100):02d}"


def _toxmix() -> list[str]:
    """The installed `toxmix` command next to this Python, or the module's entry point."""
    script = Path(sys.executable).with_name("toxmix")
    return [str(script)] if script.is_file() else [sys.executable, "-c", "from toxmix.app.cli import main; "
                                                   "raise SystemExit(main())"]


def _template(out: Path, p: Profile) -> None:
    path = out / "manifests" / "template.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"name": "demo", "corpus": "../corpus", "tokenizer": "allenai/gpt-neox-olmo-dolma-v1_5",
           "seed": 20250711,
           "components": [{"name": "clean", "role": "clean", "source": "c4", "tokens": p.clean_tokens},
                          {"name": "toxic", "source": ["stormfront", "davidson"], "share": 0.10}],
           "output": {"shard_tokens": 400_000}}
    header = "# The study's sweep at CPU scale, written by 'toxmix demo'\n"
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False))


# `toxmix stats --plots` draws one histogram per label of the demo's scorer, named SCORER__LABEL.png
SCORE_FIGURES = ("figures/scores/fasttext_toxicity__clean.png", "figures/scores/fasttext_toxicity__toxic.png")


def stages(out: Path, data: Path, p: Profile, hub: bool, seconds: dict[str, float], commands) -> list[Stage]:
    """The demo's stages, in order; `seconds` fills with each stage's time, for the report's preface."""
    trained = [(_share_name(s), seed) for s in p.train for seed in p.seeds]
    models = [f"{name}-s{seed}" for name, seed in trained]
    if hub:
        ingest = [["ingest", "c4", "allenai/c4", "--format", "hf", "--subset", "en", "--split", "validation[:2000]",
                   "-c", "corpus"],
                  ["ingest", "davidson", "tdavidson/hate_speech_offensive", "--format", "hf", "--text-field", "tweet",
                   "-k", "class", "-c", "corpus"],
                  ["ingest", "stormfront", "odegiber/hate_speech18", "--format", "hf", "-k", "label", "-c", "corpus"]]
    else:
        ingest = [["ingest", "c4", str(data / "c4" / "c4-validation-2k.parquet"), "-c", "corpus"],
                  ["ingest", "stormfront", str(data / "stormfront" / "stormfront.jsonl.gz"), "-c", "corpus",
                   "-k", "label"],
                  ["ingest", "davidson", str(data / "davidson" / "labeled_data.csv"), "-c", "corpus", "--text-field",
                   "tweet", "-k", "class"]]
    fasttext = ["classifiers", "train-fasttext", "--recipe", "study", "--no-transfer", "--bucket", "200000"]
    toxigen = ["--toxigen-data", "toxigen-hub", "--rtp-data", "allenai/real-toxicity-prompts"] if hub else []
    return [
        Stage("ingest", ingest, [f"corpus/meta/sources/{s}.json" for s in ("c4", "stormfront", "davidson")]),
        Stage("scorers", [fasttext + ["--out", "models/toxicity.bin"],
                          fasttext + ["--exclude", "toxigen", "--out", "models/eval-scorer.bin"],
                          ["tag", "-c", "corpus", "-s", "fasttext:models/toxicity.bin,name=fasttext_toxicity"]],
              ["models/toxicity.bin", "models/eval-scorer.bin", "corpus/meta/scorers/fasttext_toxicity.json"]),
        Stage("stats", [["stats", "-c", "corpus", "--plots", "figures/scores"],
                        ["sql", "-c", "corpus", "SELECT source, count(*) AS docs, sum(n_tokens) AS tokens, "
                         "round(avg(fasttext_toxicity.toxic), 3) AS mean_toxic FROM docs GROUP BY source "
                         "ORDER BY source"]], list(SCORE_FIGURES)),
        Stage("mixtures", [["manifest", "sweep", "manifests/template.yaml", "--ratios",
                            ",".join(f"{s:g}" for s in p.sweep), "--out", "manifests"],
                           *[["manifest", "materialize", f"manifests/{_share_name(s)}.yaml"] for s in p.train]],
              [*[f"manifests/{_share_name(s)}.lock.json" for s in p.train], "figures/composition.png"],
              before=lambda: _template(out, p), after=lambda: composition_figure(out, p)),
        Stage("train", [c for name, seed in trained for c in (
            ["train", f"manifests/{name}.yaml", "--preset", "tiny", "--steps", str(p.steps), "--seed", str(seed),
             "--out", f"runs/{name}-s{seed}"],
            ["export", f"runs/{name}-s{seed}", "--hf", f"models/{name}-s{seed}"])]
              # the floor: the same architecture, untrained (the first run's step-0 weights)
              + [["export", f"runs/{models[0]}", "--hf", "models/untrained", "--step", "0"]],
              [*[f"models/{m}/toxmix_export.json" for m in models], "models/untrained/toxmix_export.json",
               "figures/training.png"],
              after=lambda: training_figure(out, models)),
        Stage("probe", [*[["probe", f"models/{m}", "--out", f"probes/{m}",
                           *(["--data", "toxigen-hub"] if hub else [])] for m in ["untrained", *models]],
                        ["probe", "compare", *[f"probes/{m}" for m in models], "--out", "probes/compare"],
                        ["probe", "compare", "probes/untrained", *[f"probes/{m}" for m in models], "--out",
                         "probes/floor"]],
              [*[f"probes/{m}/probe.json" for m in ["untrained", *models]], "probes/compare/differences.csv",
               "probes/floor/differences.csv"]),
        Stage("iti", [["iti", "fit", f"models/{m}", f"probes/{m}", "--heads", str(p.heads), "--out",
                       f"probes/{m}/iti.safetensors"] for m in models],
              [f"probes/{m}/iti.safetensors" for m in models]),
        Stage("eval", [["eval", f"models/{m}", "--scorer", "fasttext:models/eval-scorer.bin", "--iti",
                        f"probes/{m}/iti.safetensors", "--alpha", "4,8,12", "--prompting", "--toxigen",
                        str(p.toxigen), "--rtp", str(p.rtp), "--k", str(p.k), "--tasks", ",".join(p.tasks),
                        "--task-docs", str(p.task_docs), "--ce-docs", str(p.ce_docs), *toxigen,
                        "--label", m, "--out", f"evals/{m}"] for m in models],
              [f"evals/{m}/result.json" for m in models]),
        Stage("toy", [["toy", *p.toy, "--out", "toy"]], ["toy/SUMMARY.md", "toy/entanglement.png"]),
        Stage("report", [["report", *[f"evals/{m}" for m in models], "--probes", "probes/compare",
                          "--probes", "probes/floor",
                          *[a for m in ["untrained", *models] for a in ("--probes", f"probes/{m}")],
                          "--figure", "figures/composition.png", "--figure", "figures/training.png",
                          *[a for f in SCORE_FIGURES for a in ("--figure", f)],
                          "--toy", "toy", "--preface", "figures/preface.md",
                          "--title", f"toxmix demo ({p.name} profile)", "--out", "report"]],
              ["report/report.html", "report/report.md"],
              before=lambda: (out / "figures" / "preface.md").write_text(preface(p, seconds, commands))),
    ]


def composition_figure(out: Path, p: Profile) -> None:
    """Tokens per component of every materialized mixture, stacked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toxmix.mixer.manifest.lockfile import read_lock

    names, clean, toxic = [], [], []
    for s in p.train:
        lock = read_lock(out / "manifests" / f"{_share_name(s)}.lock.json")
        names.append(_share_name(s))
        clean.append(lock.components["clean"].tokens)
        toxic.append(lock.components["toxic"].tokens if "toxic" in lock.components else 0)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(names, clean, label="clean (C4)")
    ax.bar(names, toxic, bottom=clean, label="toxic (Stormfront + Davidson)")
    ax.set_ylabel("tokens")
    ax.set_title("Mixture composition: clean tokens fixed, toxic added on top")
    ax.legend()
    fig.tight_layout()
    (out / "figures").mkdir(exist_ok=True)
    save_figure(fig, out / "figures" / "composition.png", "What each trained mixture holds, from its lock: the "
                "clean C4 tokens are the same fixed budget in every mixture and the toxic forum tokens are added on "
                "top, as in the study (toxic share = toxic / all tokens).")


def training_figure(out: Path, models: list[str]) -> None:
    """Training loss per step of every run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toxmix.train.record import read_metrics

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for m in models:
        rows = [r for r in read_metrics(out / "runs" / m / "metrics.jsonl") if r.loss is not None]
        ax.plot([r.step for r in rows], [r.loss for r in rows], label=m)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (nats/token)")
    ax.set_title("Training curves")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, out / "figures" / "training.png", "Training loss (next-token cross-entropy, nats per token) at "
                "every step of every trained model, from their metrics.jsonl: a falling curve is a model that "
                "learned; where it ends is how far each got.")


def existing_command(commands, *args: str) -> str:
    """`toxmix ARGS` as text, after checking that `commands` (the `toxmix` command group) parses it: a preface
    never names a command or option a reader cannot use."""
    cmd, name, rest = commands, "toxmix", list(args)
    try:
        while hasattr(cmd, "resolve_command"):  # a group: descend to the command the words name
            name, cmd, rest = cmd.resolve_command(cmd.make_context(name, [], resilient_parsing=True), rest)
        cmd.make_context(name, rest)
    except Exception as e:  # noqa: BLE001 - click's usage errors: the demo's own text is wrong
        raise AssertionError(f"the demo names a command that does not parse: toxmix {shlex.join(args)} ({e})") from e
    return "toxmix " + shlex.join(args)


def preface(p: Profile, seconds: dict[str, float], commands) -> str:
    """What the demo ran, and what CPU scale can and cannot show; its facts come from the code that set them."""
    from toxmix.train.presets import get_preset, model_config, padded_vocab_size

    tiny = get_preset("tiny")
    params = model_config(tiny, padded_vocab_size(50_280)).num_params
    seen = p.steps * tiny.global_batch_tokens
    timing = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
    recipe = existing_command(commands, "train", "manifests/paper/paper-10.yaml", "--preset", "olmo1-1b",
                              "--nnodes", "2", "--nproc", "8")
    return (
        f"This is the study (Li et al., ICML 2025) in miniature, profile '{p.name}': toxic shares "
        f"{', '.join(f'{s:.0%}' for s in p.sweep)} swept as manifests over a fixed clean budget of "
        f"{p.clean_tokens:,} C4 tokens; the {', '.join(f'{s:.0%}' for s in p.train)} mixtures trained with the "
        f"'tiny' preset for {p.steps} steps (seeds {', '.join(map(str, p.seeds))}), probed on ToxiGen, steered with "
        f"ITI on the top {p.heads} heads at α = 4, 8, 12, and evaluated on {p.toxigen} ToxiGen and {p.rtp} "
        f"RealToxicityPrompts prompts x {p.k} samples, scored by a fastText model that never saw ToxiGen.\n\n"
        f"What CPU scale can and cannot show: these models have {params:,} parameters (mostly the token "
        f"embedding) and saw {seen:,} tokens each, so their continuations are barely language and their probes "
        "may not beat an untrained model of the same architecture: the findings below say, with intervals, which "
        "differences are distinguishable. Every number here is measured, none is a placeholder, but the study's "
        "findings (cleaner linear toxicity with more toxic data; a better detoxification trade-off at 10 %) need its "
        "scale: Olmo-1B (1,176,764,416 parameters) on ~20B clean tokens. The recipe: the manifests in "
        f"manifests/paper, '{recipe}' on a Slurm cluster (or --nproc on one GPU node), then the same probe, iti, "
        "eval and report commands.\n\n"
        f"Stage times: {timing}."
    )


DEMO_ENV = ("TOXMIX_SHARED", "TOXMIX_CACHE", "OMP_NUM_THREADS")  # what the demo sets for its commands


def logged_command(out: Path, env: dict[str, str], cmd: list[str]) -> str:
    """A command as the log shows it: complete (folder, the variables the demo set, the installed `toxmix`), so
    pasting it into a shell reruns exactly what the demo ran, with the same caches."""
    variables = " ".join(f"{k}={shlex.quote(env[k])}" for k in DEMO_ENV)
    return f"cd {shlex.quote(str(out))} && {variables} {shlex.join([*_toxmix(), *cmd])}"


def _changed_output(out: Path, recorded: dict[str, str] | None) -> str | None:
    """Why a finished stage must run again (an output missing or changed since), or None when it is intact."""
    if recorded is None:
        return "its marker records no outputs (an older demo)"
    for name, digest in recorded.items():
        path = out / name
        if not path.is_file():
            return f"{name} is missing"
        if file_digest(path) != digest:
            return f"{name} changed since"
    return None


def run_demo(out: Path, commands, data_dir: Path | None = None, hub: bool = False, profile: str = "quick") -> Path:
    """Run (or resume) the demo under out; return the report's HTML path. `commands` is the `toxmix` command
    group (click's), against which the demo checks the commands its report names."""
    if profile not in PROFILES:
        raise ToxmixError(f"--profile {profile!r}: use one of {', '.join(PROFILES)}")
    p = PROFILES[profile]
    data = (data_dir or shared_dir() / "data").resolve()
    if not hub and not (data / "c4" / "c4-validation-2k.parquet").is_file():
        raise ToxmixError(f"no demo data at {data} (c4/, stormfront/, davidson/, toxigen/, rtp-sample/ as in "
                          "../shared/data): give --data-dir, set TOXMIX_SHARED, or use --hub")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    env = dict(os.environ, TOXMIX_SHARED=str(data.parent), TOXMIX_CACHE=str(out / "cache"),
               OMP_NUM_THREADS=str(default_threads()))
    seconds: dict[str, float] = {}
    plan = stages(out, data, p, hub, seconds, commands)
    redo = False  # once a stage runs again, every later stage does: its inputs may have changed
    for i, stage in enumerate(plan, 1):
        marker = out / "stages" / f"{i:02d}-{stage.name}.json"
        if marker.is_file():
            done = json.loads(marker.read_text())
            if done.get("profile") != p.name or done.get("data") != str(data):
                raise ToxmixError(f"{out} holds a demo of profile {done.get('profile')} on {done.get('data')}; "
                                  "resume it with the same --profile and data, or give another --out")
            changed = None if redo else _changed_output(out, done.get("outputs"))
            if not redo and changed is None:
                seconds[stage.name] = done["seconds"]
                console.print(f"[{i}/{len(plan)}] {stage.name}: done earlier ({seconds[stage.name]:.0f} s), skipped")
                continue
            if changed:
                console.print(f"[{i}/{len(plan)}] {stage.name}: {changed}; running it again")
            marker.unlink()
        redo = True
        console.print(f"[{i}/{len(plan)}] {stage.name} ...")
        start = time.monotonic()
        log = out / "logs" / f"{i:02d}-{stage.name}.log"
        log.parent.mkdir(exist_ok=True)
        if stage.before:
            stage.before()
        with log.open("w") as fh:
            for cmd in stage.commands:
                fh.write(f"$ {logged_command(out, env, cmd)}\n")
                fh.flush()
                proc = subprocess.run([*_toxmix(), *cmd], cwd=out, env=env, stdout=fh, stderr=subprocess.STDOUT)
                if proc.returncode != 0:
                    tail = log.read_text().strip().splitlines()[-1:] or [""]
                    raise ToxmixError(f"demo stage {stage.name} failed at 'toxmix {shlex.join(cmd)}' ({tail[0]}); "
                                      f"log {log}; rerun 'toxmix demo --out {out}' to resume here")
        if stage.after:
            stage.after()
        seconds[stage.name] = time.monotonic() - start
        write_json(marker, {"stage": stage.name, "profile": p.name, "data": str(data), "commands": stage.commands,
                            "seconds": round(seconds[stage.name], 1),
                            "outputs": {f: file_digest(out / f) for f in stage.outputs}})
        console.print(f"[{i}/{len(plan)}] {stage.name}: done in {seconds[stage.name]:.0f} s")
    return out / "report" / "report.html"
