"""Corpus statistics: docs, tokens and bytes per source and per score bucket, and score histograms."""

from dataclasses import dataclass
from pathlib import Path

import duckdb

from toxmix.core.errors import ToxmixError
from toxmix.core.figures import save_figure
from toxmix.mixer.corpus.catalog import attribute_labels, open_catalog
from toxmix.mixer.corpus.store import FIELDS_SCORER, CorpusLayout

BUCKETS = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
TOXIC_LABELS = ("toxic", "toxicity", "hate", "hateful", "offensive", "l_1")


@dataclass
class CorpusStats:
    """Tables of numbers; each is (column names, rows)."""

    per_source: tuple[list[str], list[tuple]]
    per_bucket: tuple[list[str], list[tuple]] | None
    score_column: str | None


def default_score(con: duckdb.DuckDBPyConnection, layout: CorpusLayout) -> str | None:
    """The first scorer label that looks like toxicity, as `scorer.label`."""
    for scorer in layout.scorers():
        if scorer == FIELDS_SCORER:
            continue
        labels = attribute_labels(con, scorer)
        for lab in TOXIC_LABELS:
            if lab in labels:
                return f"{scorer}.{lab}"
    return None


def _score_expr(score: str, layout: CorpusLayout) -> str:
    scorer, dot, label = score.partition(".")
    if not dot or scorer not in layout.scorers():
        raise ToxmixError(f"--score must be SCORER.LABEL with a tagged scorer ({', '.join(layout.scorers())}), "
                          f"got {score!r}")
    return f'{scorer}."{label}"'


def corpus_stats(corpus: str, score: str | None = None) -> CorpusStats:
    """Docs, tokens and bytes per source, and per bucket of one score."""
    layout = CorpusLayout.at(corpus, must_exist=True)
    con = open_catalog(corpus)
    rel = con.sql("SELECT source, count(*) AS docs, sum(n_tokens) AS tokens, sum(n_bytes) AS bytes, "
                  "(SELECT count(*) FROM rejected r WHERE r.source = d.source) AS rejected "
                  "FROM documents d GROUP BY source ORDER BY source")
    per_source = (rel.columns, rel.fetchall())
    score = score or default_score(con, layout)
    if score is None:
        return CorpusStats(per_source, None, None)
    expr = _score_expr(score, layout)
    edges = list(BUCKETS)
    pairs = zip(edges[:-2], edges[1:-1], strict=True)
    cases = " ".join(f"WHEN s < {hi} THEN '[{lo:.2f}, {hi:.2f})'" for lo, hi in pairs)
    try:
        rel = con.sql(
            f"SELECT source, CASE WHEN s IS NULL THEN 'untagged' {cases} "
            f"ELSE '[{edges[-2]:.2f}, 1.00]' END AS bucket,"
            f" count(*) AS docs, sum(n_tokens) AS tokens, sum(n_bytes) AS bytes "
            f"FROM (SELECT source, n_tokens, n_bytes, {expr} AS s FROM docs) GROUP BY ALL ORDER BY source, bucket"
        )
        per_bucket = (rel.columns, rel.fetchall())
    except duckdb.Error as e:
        raise ToxmixError(f"cannot bucket by {score!r}: {str(e).splitlines()[0]}") from None
    return CorpusStats(per_source, per_bucket, score)


def plot_histograms(corpus: str, out_dir: str, bins: int = 40) -> list[Path]:
    """One PNG per scorer label: the score histogram of each source, overlaid, on a log count axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    layout = CorpusLayout.at(corpus, must_exist=True)
    con = open_catalog(corpus)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for scorer in layout.scorers():
        if scorer == FIELDS_SCORER:
            continue
        for label in attribute_labels(con, scorer):
            fig, ax = plt.subplots(figsize=(7, 4))
            for source, in con.sql(f"SELECT DISTINCT source FROM attributes_{scorer} ORDER BY 1").fetchall():
                values = con.execute(f'SELECT "{label}" FROM attributes_{scorer} WHERE source = ?',
                                     [source]).fetchnumpy()[label]
                ax.hist(np.asarray(values, dtype=float), bins=bins, range=(0, 1), histtype="step", linewidth=1.5,
                        label=f"{source} (n={len(values):,})")
            ax.set_yscale("log")
            ax.set_xlabel(f"{scorer}.{label}")
            ax.set_ylabel("documents")
            ax.set_title(f"{scorer}: {label} score by source")
            ax.legend()
            fig.tight_layout()
            path = save_figure(fig, out / f"{scorer}__{label}.png",
                               f"How the corpus scores on {scorer}.{label}: documents per score bin (log scale), one "
                               "line per source. A scorer that separates the sources puts the toxic forum data "
                               "to the right and the clean web text to the left.")
            written.append(path)
    return written
