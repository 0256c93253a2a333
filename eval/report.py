"""`toxmix report`: the study's Table 1, the toxicity-vs-cross-entropy trade-off, per-group and downstream tables,
from toxmix.eval folders only (no model, no torch). Writes report.md with its figures beside it, and report.html, one
self-contained file with the figures embedded."""

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from toxmix.core.errors import ToxmixError  # noqa: E402
from toxmix.core.figures import FIGURE_CHECK_JS, figure_caption, is_png, save_figure  # noqa: E402
from toxmix.core.files import atomic_write_bytes  # noqa: E402
from toxmix.eval.findings import input_warnings, intervention_findings, probe_findings, toy_finding  # noqa: E402
from toxmix.eval.metrics import METRICS, Estimate, ToxicityFigures  # noqa: E402
from toxmix.eval.result import ConditionResult, EvalResult  # noqa: E402

METRIC_NAMES = {"mean_toxicity": "mean toxicity", "emt": "expected max toxicity", "toxicity_prob": "toxicity prob."}
PROBE_FIGURES = ("accuracy_distributions.png", "heatmap.png")


@dataclass
class Table:
    """A titled table: header and rows of cell strings."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


def _fmt(est: Estimate | None, digits: int = 3) -> str:
    if est is None or est.value is None:
        return "n/a"
    return f"{est.value:.{digits}f} [{est.low:.{digits}f}, {est.high:.{digits}f}]"


def _tox_cell(fig: ToxicityFigures | None, metric: str, with_n: bool = False) -> str:
    if fig is None:
        return "-"
    est = getattr(fig, metric)
    if with_n and fig.prompts < 2 and est.value is not None:
        cell = f"{est.value:.3f} (n={fig.prompts}: no interval)"
    else:
        cell = _fmt(est) + (f" (n={fig.prompts})" if with_n else "")
    missing = fig.missing_generations
    return f"{cell} ({missing} missing)" if missing else cell


def _share(r: EvalResult) -> str:
    share = r.model.toxic_share
    return f"{share:.0%}" if share is not None else "-"


def _order(results: list[EvalResult]) -> list[EvalResult]:
    """By toxic share (unknown last), then label."""
    return sorted(results, key=lambda r: (r.model.toxic_share is None, r.model.toxic_share or 0.0, r.label))


def table1(results: list[EvalResult], metric: str) -> Table:
    """Method x ToxiGen x RTP x CE, grouped by mixture share."""
    sets = sorted({s.name for r in results for s in r.prompt_sets}, key=lambda s: (s != "toxigen", s))
    header = ["toxic share", "model", "method", *[f"{s} ↓" for s in sets], "CE ↓"]
    rows = []
    for r in _order(results):
        for c in r.conditions:
            ce = f"{c.cross_entropy.value:.3f}" if c.cross_entropy else "-"
            rows.append([_share(r), r.label, c.label, *[_tox_cell(c.toxicity.get(s), metric) for s in sets], ce])
    return Table(f"Table 1: {METRIC_NAMES[metric]} and cross-entropy", header, rows,
                 "95 % bootstrap intervals over prompts in brackets; unscored generations are counted as missing, "
                 "never as 0. CE: nats per token on held-out clean text.")


def group_table(results: list[EvalResult], metric: str, prompt_set: str) -> Table | None:
    """Per target group: one column per model and condition."""
    columns = [(r, c) for r in _order(results) for c in r.conditions if prompt_set in c.groups]
    if not columns:
        return None
    groups = sorted({g for _, c in columns for g in c.groups[prompt_set]})
    header = ["group", *[f"{r.label} {c.label}" for r, c in columns]]
    rows = [[g, *[_tox_cell(c.groups[prompt_set].get(g), metric, with_n=True) for _, c in columns]] for g in groups]
    return Table(f"{prompt_set} by group: {METRIC_NAMES[metric]}", header, rows,
                 "n: prompts of the group; a group of one prompt has no interval.")


def task_table(results: list[EvalResult]) -> Table | None:
    """Downstream accuracy (acc / len_norm) per model and condition."""
    tasks = sorted({t.task for r in results for c in r.conditions for t in c.tasks})
    if not tasks:
        return None
    rows = []
    for r in _order(results):
        for c in r.conditions:
            by = {t.task: t for t in c.tasks}
            rows.append([_share(r), r.label, c.label, *[f"{by[t].acc:.3f} / {by[t].len_norm:.3f} (n={by[t].n})"
                                                        if t in by else "-" for t in tasks]])
    return Table("Downstream tasks: accuracy / length-normalized accuracy", ["toxic share", "model", "method", *tasks],
                 rows)


def _curve(conds: list[ConditionResult]) -> list[ConditionResult]:
    return sorted([c for c in conds if c.method in ("base", "iti") and c.cross_entropy], key=lambda c: c.alpha)


def tradeoff_plot(results: list[EvalResult], metric: str, out: Path) -> Path | None:
    """Toxicity against cross-entropy: one curve per model over the α grid, baselines as separate markers."""
    sets = sorted({s.name for r in results for s in r.prompt_sets}, key=lambda s: (s != "toxigen", s))
    if not sets or not any(_curve(r.conditions) for r in results):
        return None
    fig, axes = plt.subplots(1, len(sets), figsize=(5.5 * len(sets), 4.2), squeeze=False)
    for ax, s in zip(axes[0], sets, strict=True):
        for r in _order(results):
            curve = [c for c in _curve(r.conditions) if getattr(c.toxicity[s], metric).value is not None]
            if not curve:
                continue
            x = [c.cross_entropy.value for c in curve]
            est = [getattr(c.toxicity[s], metric) for c in curve]
            y = [e.value for e in est]
            err = [[v - e.low for v, e in zip(y, est, strict=True)], [e.high - v for v, e in zip(y, est, strict=True)]]
            line = ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"{r.label} ({_share(r)} toxic)")
            for c, xi, yi in zip(curve, x, y, strict=True):
                ax.annotate(f"α={c.alpha:g}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
            for c in r.conditions:
                if c.method not in ("base", "iti") and c.cross_entropy and s in c.toxicity:
                    v = getattr(c.toxicity[s], metric).value
                    if v is not None:
                        ax.scatter([c.cross_entropy.value], [v], marker="s", color=line[0].get_color(),
                                   label=f"{r.label} {c.label}")
        ax.set_xlabel("cross-entropy on held-out clean text (nats/token) ↓")
        ax.set_ylabel(f"{s}: {METRIC_NAMES[metric]} ↓")
        ax.set_title(f"{s}: toxicity vs capability cost")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out / "tradeoff.png", f"The detoxification trade-off: {METRIC_NAMES[metric]} of sampled "
                       "continuations (vertical, lower is less toxic) against cross-entropy on held-out clean text "
                       "(horizontal, lower is more capable), for each model without intervention and at each ITI "
                       "strength α; squares are the prompting and prefix baselines; bars are 95 % intervals over "
                       "prompts. Further down and to the left is a better trade-off.", dpi=120)


def _md(text: str) -> str:
    """Text for Markdown that viewers may render as HTML: markup in labels, names or the preface stays text."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")


def _md_table(t: Table) -> str:
    lines = [f"### {_md(t.title)}", "", "| " + " | ".join(_md(h) for h in t.header) + " |",
             "|" + "---|" * len(t.header)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines + (["", _md(t.note)] if t.note else []) + [""])


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in t.rows)
    note = f"<p class='note'>{html.escape(t.note)}</p>" if t.note else ""
    return f"<h3>{html.escape(t.title)}</h3><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    cap = html.escape(alt)
    return f"<figure><img alt='{cap}' src='data:image/png;base64,{data}'><figcaption>{cap}</figcaption></figure>"


def load_results(folders: list[Path]) -> list[EvalResult]:
    """The eval results of the folders; refuse none, or two with the same label."""
    if not folders:
        raise ToxmixError("give one or more eval folders (from 'toxmix eval ... --out DIR')")
    results = [EvalResult.load(f) for f in folders]
    labels = [r.label for r in results]
    dup = next((x for x in labels if labels.count(x) > 1), None)
    if dup:
        raise ToxmixError(f"two eval folders are labelled {dup!r}; evaluate with distinct --label values")
    return results


def write_report(folders: list[Path], out: Path, metric: str = "emt", probes: list[Path] | None = None,
                 title: str = "toxmix report", extra_figures: list[Path] | None = None,
                 preface: Path | None = None, toy: Path | None = None) -> dict[str, Path]:
    """report.md (+ PNGs) and a self-contained report.html under out; extra figures (PNG files) are copied in,
    and the preface (a text file of plain paragraphs) opens the report."""
    if metric not in METRICS:
        raise ToxmixError(f"--metric {metric!r}: use one of {', '.join(METRICS)}")
    if preface is not None and not Path(preface).is_file():
        raise ToxmixError(f"--preface {preface}: no such file")
    results = load_results(folders)
    out.mkdir(parents=True, exist_ok=True)
    tables = [table1(results, metric)]
    figures: list[tuple[Path, str]] = []
    plot = tradeoff_plot(results, metric, out)
    if plot:
        figures.append((plot, figure_caption(plot)))
    sets = sorted({s.name for r in results for s in r.prompt_sets})
    tables += [t for t in (group_table(results, metric, s) for s in sets) if t]
    if t := task_table(results):
        tables.append(t)
    for folder in probes or []:
        found = [folder / name for name in PROBE_FIGURES if (folder / name).is_file()]
        if not found:
            raise ToxmixError(f"--probes {folder}: no {' or '.join(PROBE_FIGURES)}; give 'toxmix probe' or "
                              "'toxmix probe compare' output folders")
        for f in found:
            copy = out / f"probe-{folder.name}-{f.name}"
            atomic_write_bytes(copy, f.read_bytes())
            figures.append((copy, figure_caption(copy) or f"probes {folder.name}: {f.stem.replace('_', ' ')}"))
    for f in extra_figures or []:
        if not is_png(f):
            raise ToxmixError(f"--figure {f}: not a PNG image (only PNG files that decode are embedded)")
        copy = out / f"figure-{f.parent.name}-{f.name}"
        atomic_write_bytes(copy, f.read_bytes())
        figures.append((copy, figure_caption(copy) or f.stem.replace("__", ": ").replace("_", " ")))
    if toy is not None:
        if not (toy / "SUMMARY.md").is_file() or not (toy / "entanglement.png").is_file():
            raise ToxmixError(f"--toy {toy}: no SUMMARY.md and entanglement.png; give a 'toxmix toy --out' folder")
        copy = out / "toy-entanglement.png"
        atomic_write_bytes(copy, (toy / "entanglement.png").read_bytes())
        figures.append((copy, figure_caption(copy) or "The toy experiment"))
    findings = [*input_warnings(results), *[line for folder in probes or [] for line in probe_findings(folder)],
                *intervention_findings(results, metric, METRIC_NAMES[metric])]
    if toy is not None and (line := toy_finding(toy)):
        findings.append(line)
    paragraphs = [p.strip() for p in (Path(preface).read_text() if preface else "").split("\n\n") if p.strip()]
    notes = [f"{r.label}: {n}" for r in results for n in r.notes]
    settings = [f"{r.label}: model {r.model.identity.name} (weights {r.model.identity.digest[:12]}), "
                + (f"scorer {r.scorer.spec} (label {r.scorer.label}), prompts " if r.scorer else "capability only, ")
                + ", ".join(f"{p.name} {p.prompts}" for p in r.prompt_sets)
                + f", K={r.sampling.k}, top-p {r.sampling.top_p}, {r.sampling.max_new_tokens} new tokens"
                + (f", ITI {r.iti.heads} heads" if r.iti else "") for r in results]
    md = [f"# {_md(title)}", "", *[f"{_md(p)}\n" for p in paragraphs]]
    if findings:
        md += ["## Findings", "", *[f"- {_md(f)}" for f in findings], ""]
    md += [_md_table(t) for t in tables]
    md += [f"![{_md(alt)}]({p.name})\n" for p, alt in figures]
    md += ["## Settings", "", *[f"- {_md(s)}" for s in settings], ""]
    if notes:
        md += ["## Notes", "", *[f"- {_md(n)}" for n in notes], ""]
    md_path = out / "report.md"
    atomic_write_bytes(md_path, "\n".join(md).encode())
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;"
             "margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
             "th{background:#f3f3f3}img{max-width:100%}.note{color:#555;font-size:13px}")
    body = [f"<h1>{html.escape(title)}</h1>", *[f"<p>{html.escape(p)}</p>" for p in paragraphs]]
    if findings:
        body += ["<h2>Findings</h2><ul class='findings'>" + "".join(f"<li>{html.escape(f)}</li>" for f in findings)
                 + "</ul>"]
    body += [_html_table(tables[0])]
    body += [_img(p, alt) for p, alt in figures]
    body += [_html_table(t) for t in tables[1:]]
    body += ["<h2>Settings</h2><ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in settings) + "</ul>"]
    if notes:
        body += ["<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"]
    check = f"<script>{FIGURE_CHECK_JS}</script>"
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}{check}</body></html>")
    html_path = out / "report.html"
    atomic_write_bytes(html_path, page.encode())
    return {"markdown": md_path, "html": html_path, **({"tradeoff": plot} if plot else {})}
