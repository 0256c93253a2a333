"""The report's findings, in sentences with their numbers and intervals: probe comparisons (against the untrained
floor where one was probed), what ITI and the baselines did to toxicity and at what capability cost, the toy
experiment's verdict, and warnings about the inputs (one model under two labels)."""

from pathlib import Path

import pandas as pd

from toxmix.eval.metrics import Estimate
from toxmix.eval.result import EvalResult

DIFFERENCES_FILE = "differences.csv"  # written by `toxmix probe compare`


def _interval(e: Estimate) -> str:
    return f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"


def _disjoint(a: Estimate, b: Estimate) -> bool:
    return a.high < b.low or b.high < a.low


def probe_findings(folder: Path) -> list[str]:
    """One sentence per difference in a `probe compare` folder; a reference at step 0 is the untrained floor."""
    path = folder / DIFFERENCES_FILE
    if not path.is_file():
        return []
    out = []
    for d in pd.read_csv(path).to_dict("records"):
        delta, lo, hi, k = d["delta"], d["ci_low"], d["ci_high"], int(d["top_k"])
        interval = f"{delta:+.3f} (95 % CI {lo:+.3f} to {hi:+.3f}, bootstrap over validation examples)"
        if d.get("a_step") == 0:
            verdict = ("distinguishable from an untrained model: training made its heads hold toxicity more "
                       "linearly" if lo > 0 else
                       "not distinguishable from an untrained model of the same architecture: at this scale the "
                       "probes measure the architecture and its random initialisation, not what training taught")
            out.append(f"Probes, {d['b']} against the untrained floor ({d['a']}): top-{k} mean validation accuracy "
                       f"{interval}; {verdict}.")
            continue
        if lo > 0 or hi < 0:
            direction = "more" if delta > 0 else "less"
            verdict = (f"{d['b']}'s heads hold toxicity {direction} linearly than {d['a']}'s (the study: more toxic "
                       "pretraining, more linear)")
        else:
            verdict = "not distinguishable from no difference"
        out.append(f"Probes, {d['b']} minus {d['a']}: top-{k} mean validation accuracy {interval}; {verdict}.")
    return out


def intervention_findings(results: list[EvalResult], metric: str, metric_name: str) -> list[str]:
    """Per model and prompt set: each intervention's toxicity against the base model's, and its capability cost."""
    out = []
    for r in results:
        base = next((c for c in r.conditions if c.method == "base"), None)
        if base is None:
            continue
        for s in r.prompt_sets:
            b = getattr(base.toxicity[s.name], metric)
            if b.value is None:
                continue
            parts = []
            for c in r.conditions:
                e = getattr(c.toxicity[s.name], metric) if c is not base and s.name in c.toxicity else None
                if e is None or e.value is None:
                    continue
                ce = (f", cross-entropy {c.cross_entropy.value - base.cross_entropy.value:+.3f} nats/token"
                      if c.cross_entropy and base.cross_entropy and c.method == "iti" else "")
                sure = "intervals disjoint" if _disjoint(b, e) else "intervals overlap"
                parts.append(f"{c.label} {_interval(e)} ({e.value - b.value:+.3f}, {sure}{ce})")
            if parts:
                out.append(f"{r.label}, {s.name} ({s.prompts:,} prompts x {r.sampling.k}): {metric_name} "
                           f"{_interval(b)} without intervention; " + "; ".join(parts) + ".")
    return out


def input_warnings(results: list[EvalResult]) -> list[str]:
    """The same weights evaluated under two labels read as two models in every table: say so."""
    by_digest: dict[str, list[str]] = {}
    for r in results:
        by_digest.setdefault(r.model.identity.digest, []).append(r.label)
    return [f"Warning: {', '.join(labels)} are the same model (weights {digest[:12]}); their rows are one model, "
            "not several." for digest, labels in by_digest.items() if len(labels) > 1]


def toy_finding(folder: Path) -> str | None:
    """The toy experiment's verdict, from its SUMMARY.md."""
    path = folder / "SUMMARY.md"
    if not path.is_file():
        return None
    lines = path.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "## Verdict"), None)
    if start is None:
        return None
    verdict = [line.replace("**", "").strip() for line in lines[start + 1:start + 5] if line.strip()][:2]
    return "Toy experiment: " + " ".join(verdict) if verdict else None
