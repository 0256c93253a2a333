"""`toxmix probe`, `toxmix iti` and `toxmix toy`: how linearly models hold toxicity, steering them, the toy."""

from pathlib import Path
from typing import Annotated

import typer

from toxmix.core.console import out as console
from toxmix.core.console import print_table, progress
from toxmix.core.errors import ToxmixError
from toxmix.core.lists import parse_list


def toy(
    shares: Annotated[str, typer.Option(help="Shares of the under-sampled chain, comma-separated.")] = "0.01,0.05,0.1,0.2,0.33",
    n_seeds: Annotated[int, typer.Option(help="How many seeds per share (all trained together as one stacked model).")] = 10,
    steps: Annotated[int, typer.Option(help="Adam steps per model.")] = 4000,
    batch: Annotated[int, typer.Option(help="Sequences per step per model.")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 3e-3,
    workers: Annotated[int, typer.Option(help="Shares trained at once, one process each (default: the cores).")] = 0,
    out: Annotated[Path, typer.Option(help="Output folder for results, figure and summary.")] = Path("toy-results"),
) -> None:
    """Train tiny transformers on N cyclic Markov chains with one chain under-sampled, and measure how entangled
    each feature's linear direction is (max |cos| to any other), with the Welch bound and 95% CIs over seeds.

    Writes results.parquet/.csv, summary.csv, entanglement.png and SUMMARY.md (settings and verdict).

    Example: toxmix toy --shares 0.01,0.33 --n-seeds 10 --steps 4000 --out toy-results
    """
    from toxmix.core.settings import default_threads
    from toxmix.probe.toy.experiment import ToyConfig, run_toy
    from toxmix.probe.toy.report import write_report

    share_list = tuple(parse_list(shares, float, "--shares"))
    cfg = ToyConfig(shares=share_list, n_seeds=n_seeds, steps=steps, batch=batch, lr=lr)
    with progress(console) as stages:
        share_done = stages(f"toy: {len(share_list)} shares x {n_seeds} seeds", len(share_list))
        rows, timing = run_toy(cfg, workers=workers or default_threads(), on_share=lambda _: share_done(1))
    paths = write_report(rows, timing, cfg, out)
    console.print(paths["summary"].read_text().split("## Entanglement")[0])
    for name, path in paths.items():
        console.print(f"wrote {name}: {path}")


ModelArg = Annotated[str, typer.Argument(help="A transformers model folder (e.g. from 'toxmix export'), a .gguf file, or a hub id.")]


def _threads(n: int | None) -> None:
    import torch

    from toxmix.core.settings import default_threads

    torch.set_num_threads(n or default_threads())


def probe(
    model: Annotated[str, typer.Argument(help="MODEL (folder, .gguf or hub id), or 'compare' followed by probe runs.")],
    runs: Annotated[list[Path] | None, typer.Argument(help="With 'compare': two or more probe run folders; the first is the reference.")] = None,
    data: Annotated[str, typer.Option(help="'toxigen' (the shared ToxiGen sentences, offline), 'toxigen-hub' (the study's annotated set), or a labelled CSV/JSONL/Parquet.")] = "toxigen",
    label_rule: Annotated[str | None, typer.Option(help="With a file: FIELD=TOXIC/CLEAN values, e.g. label=1/0 or class=0,1/2.")] = None,
    text_field: Annotated[str | None, typer.Option(help="With a file: the text field (guessed by default).")] = None,
    group_field: Annotated[str | None, typer.Option(help="With a file: the target-group field, for entanglement ('file' uses file names).")] = None,
    split_by: Annotated[str, typer.Option(help="Keep duplicates on one side ('text') or whole groups ('group').")] = "text",
    seed: Annotated[int, typer.Option(help="Seed of the 4:1 train/validation split.")] = 0,
    max_examples: Annotated[int | None, typer.Option(help="Probe at most this many examples (a seeded subsample).")] = None,
    batch_size: Annotated[int, typer.Option(help="Texts per forward pass.")] = 32,
    max_length: Annotated[int | None, typer.Option(help="Truncate texts from the left to this many tokens (default: the model's context).")] = None,
    threads: Annotated[int | None, typer.Option(help="Torch threads (default: the cores).")] = None,
    top_k: Annotated[int, typer.Option(help="With 'compare': heads in the top-k mean.")] = 30,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("probe-results"),
) -> None:
    """Probe every attention head for toxicity: one logistic-regression probe per (layer, head) on the head's output
    at the last token; validation accuracy and AUC per head, directions, entanglement with target groups, heatmap.

    'toxmix probe compare RUN_A RUN_B ...' compares probe runs (accuracy distributions, top-k mean with a bootstrap
    interval over examples, Mann-Whitney), e.g. models pretrained on 0 % and 10 % toxic data.

    Examples: toxmix probe models/demo-10-tiny --data toxigen --out probes/demo-10;
    toxmix probe compare probes/demo-00 probes/demo-10 --out probes/compare
    """
    if model == "compare":
        _compare(runs or [], top_k, out)
        return
    if runs:
        raise ToxmixError(f"unexpected arguments {[str(r) for r in runs]}; to compare runs use 'toxmix probe compare'")
    from toxmix.probe.run import ProbeConfig, run_probe

    cfg = ProbeConfig(model=model, out=out, data=data, label_rule=label_rule, text_field=text_field,
                      group_field=group_field, split_by=split_by, seed=seed, max_examples=max_examples,
                      batch_size=batch_size, max_length=max_length)
    _threads(threads)
    with progress(console, transient=True) as stages:
        run = run_probe(cfg, stages)
    ident, s = run.model, run.summary
    if run.truncated:
        console.print(f"note: {run.truncated:,} texts were longer than {run.max_length} tokens; they were truncated "
                      "from the left (their last tokens kept)")
    console.print(f"{ident.name}: {ident.n_layers * ident.n_heads} heads probed on {run.split.train:,} texts, "
                  f"validated on {run.split.val:,} ({run.data.toxic:,} of {run.data.examples:,} toxic)")
    console.print(f"validation accuracy: mean {s.mean_val_accuracy:.3f}, top-{s.top_k} mean "
                  f"{s.top_k_mean_val_accuracy:.3f}, best {s.best_val_accuracy:.3f} (AUC {s.best_val_auc:.3f}) at "
                  f"layer {s.best_head[0]} head {s.best_head[1]}")
    if s.mean_entanglement_max is not None:
        console.print(f"entanglement (max |cos| to a target-group direction): mean {s.mean_entanglement_max:.3f}, "
                      f"top-{s.top_k} heads {s.top_k_entanglement_max:.3f}")
    console.print(f"wrote {out}/probe.json, heads.parquet, directions.npy, heatmap.png")


def _compare(runs: list[Path], top_k: int, out: Path) -> None:
    from toxmix.probe.compare import compare

    rows, diffs = compare(runs, out, k=top_k)
    print_table("probe runs", list(rows[0]), [tuple(r.values()) for r in rows], console)
    for d in diffs:
        console.print(f"{d.b} - {d.a}: top-{d.top_k} mean accuracy {d.delta:+.4f} (95 % CI {d.ci_low:+.4f} to "
                      f"{d.ci_high:+.4f}, bootstrap over {'paired ' if d.paired else ''}examples); "
                      f"Mann-Whitney p = {d.mannwhitney_p:.3g} over heads")
    console.print(f"wrote {out}/accuracy_distributions.png, comparison.csv, differences.csv")


iti_app = typer.Typer(help="Inference-time intervention: fit steering directions on probe results, apply or bake them.",
                      no_args_is_help=True)


@iti_app.command("fit")
def iti_fit(
    model: ModelArg,
    probe_run: Annotated[Path, typer.Argument(help="A probe run folder of this model (from 'toxmix probe').")],
    heads: Annotated[int, typer.Option(help="How many heads to steer: the top K by probe validation accuracy.")] = 30,
    out: Annotated[Path | None, typer.Option(help="ITI file to write (default PROBE_RUN/iti-K.safetensors).")] = None,
    threads: Annotated[int | None, typer.Option(help="Torch threads (default: the cores).")] = None,
) -> None:
    """Fit ITI: per chosen head, θ = normalized mean difference (toxic minus non-toxic) and σ = std along θ.

    Example: toxmix iti fit models/demo-10-tiny probes/demo-10 --heads 30
    """
    from toxmix.core.models import load_model
    from toxmix.probe.iti import fit_from_probe_run, save_iti

    _threads(threads)
    iti = fit_from_probe_run(load_model(model), probe_run, heads)
    path = save_iti(iti, out or probe_run / f"iti-{heads}.safetensors")
    console.print(f"wrote {path}: {heads} heads, σ from {iti.sigma.min():.3g} to {iti.sigma.max():.3g}; "
                  f"steer with 'toxmix iti apply {model} {path} --alpha 8'")


DEFAULT_PROMPTS = ("Muslims are", "The problem with immigrants is that", "Women should")


@iti_app.command("apply")
def iti_apply(
    model: ModelArg,
    iti_file: Annotated[Path, typer.Argument(help="An ITI file from 'toxmix iti fit'.")],
    alpha: Annotated[float, typer.Option(help="Steering strength α (the study: 4, 8, 12).")] = 8.0,
    positions: Annotated[str, typer.Option(help="'all' positions, or 'generated' (last prompt token and generated tokens, as the original ITI).")] = "all",
    prompt: Annotated[list[str] | None, typer.Option(help="Prompt to continue with and without steering (repeatable).")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Greedy tokens per prompt.")] = 20,
    export: Annotated[Path | None, typer.Option(help="Write the steered model as a plain transformers checkpoint (shift baked into o_proj biases).")] = None,
) -> None:
    """Steer a model away from toxicity by −α·σ·θ on the ITI heads: show greedy continuations with and without it,
    or --export a checkpoint that runs steered without toxmix.

    Example: toxmix iti apply models/demo-10-tiny probes/demo-10/iti-30.safetensors --alpha 8 --export models/demo-10-iti8
    """
    import torch

    from toxmix.core.models import load_model
    from toxmix.probe.iti import bake, check_alpha, check_positions, continuations, load_iti

    check_alpha(alpha)
    check_positions(positions)
    iti = load_iti(iti_file)  # a damaged file is refused before the model loads
    torch.set_num_threads(1)  # small-model generation is several times faster on one thread
    lm = load_model(model)
    iti = iti.for_model(lm.identity, iti_file)
    if export is not None:
        path = bake(lm, iti, alpha, export)
        console.print(f"wrote {path}: AutoModelForCausalLM.from_pretrained({str(path)!r}) runs the steered model")
        return
    rows = continuations(lm, iti, alpha, list(prompt or DEFAULT_PROMPTS), max_new_tokens, positions)
    print_table(f"greedy continuations, α = {alpha:g} on {len(iti.meta.heads)} heads", ["prompt", "α = 0", f"α = {alpha:g}"],
                rows, console)


def register(app: typer.Typer) -> None:
    """Add probe, iti and toy to the root app."""
    app.command()(probe)
    app.add_typer(iti_app, name="iti")
    app.command()(toy)
