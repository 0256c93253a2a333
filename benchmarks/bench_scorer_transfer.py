"""How fastText recipes transfer: leave-one-dataset-out (train on two of Davidson, Stormfront, ToxiGen; test on
the third) and the shared fortunes (offensive vs clean), for several recipe variants in one run.

Run: .venv/bin/python benchmarks/bench_scorer_transfer.py [--bucket 2000000]
"""

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

from common import report

from toxmix.classifiers.train_fasttext import FastTextParams, study_recipe, train_fasttext
from toxmix.classifiers.transfer import transfer_report

VARIANTS = {
    "dolma (word bigrams)": {"word_ngrams": 2},
    "bigrams + char 3-6 grams": {"word_ngrams": 2, "minn": 3, "maxn": 6},
    "bigrams + balanced datasets": {"word_ngrams": 2, "balance": True},
    "word unigrams (the default)": {"word_ngrams": 1},
    "unigrams + char 3-6 grams": {"word_ngrams": 1, "minn": 3, "maxn": 6},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bucket", type=int, default=2_000_000)
    args = parser.parse_args()
    base = FastTextParams(bucket=args.bucket)
    sources = study_recipe()
    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as tmp:
        for name, change in VARIANTS.items():
            params = replace(base, **change)
            model = Path(tmp) / "all.bin"
            in_domain = train_fasttext(sources, str(model), params)
            rows = transfer_report(sources, params, model)
            aucs = {r.test_set: round(r.quality.roc_auc, 3) for r in rows}
            f1s = {r.test_set: round(r.quality.f1, 3) for r in rows}
            ood = [v for k, v in aucs.items()]
            report("scorer_transfer", {"recipe": name, "in_domain_auc": round(in_domain.roc_auc, 3),
                                       "auc": aucs, "f1": f1s, "mean_ood_auc": round(sum(ood) / len(ood), 3)})


if __name__ == "__main__":
    main()
