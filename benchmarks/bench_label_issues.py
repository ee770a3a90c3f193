"""Finding planted label mistakes: 5% of the labels flipped with a fixed seed, then the audit's label issues.

For each dataset: the frozen base's features (cached), 5% of the items given another class at
random (seed 0), then `tlcore.data.label_issues.find_label_issues` (cleanlab's confident learning
on out-of-fold probabilities). Printed: how many it flags, precision and recall of the flips
among them; and, in the same process on the same out-of-fold probabilities, the plain baseline:
the same number of items with the lowest probability of their given label. Targets: precision
>= 0.7 and recall >= 0.8. The probe's C and cleanlab's filter were chosen on the first two sets
(eurosat200, sms_spam: "tuning"); mnist100 and trec6 are measured with those choices, never
tuned on ("held out").

    .venv/bin/python benchmarks/bench_label_issues.py
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from tlcore.data import import_data  # noqa: E402
from tlcore.data.label_issues import find_label_issues, out_of_fold_probabilities  # noqa: E402
from tlcore.modality import modality_of  # noqa: E402

SHARE = 0.05


def flipped(labels: np.ndarray, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), round(SHARE * len(labels)), replace=False)
    noisy = labels.copy()
    noisy[chosen] = (labels[chosen] + rng.integers(1, n_classes, len(chosen))) % n_classes
    return noisy, chosen


def main() -> None:
    root = REPO.parent / "shared" / "datasets"
    sources = {"eurosat200": (root / "eurosat200", "tuning"), "sms_spam": (root / "text" / "sms_spam.csv", "tuning"),
               "mnist100": (root / "mnist100", "held out"), "trec6": (root / "text" / "trec6.csv", "held out")}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {SHARE:.0%} of the labels flipped (seed 0)")
    with tempfile.TemporaryDirectory() as workspace:
        for name, (source, role) in sources.items():
            dataset = import_data(source, Path(workspace))
            modality = modality_of(dataset)
            features = modality.features(dataset, modality.resolve_base(dataset)).features.astype(np.float64)
            labels, chosen = flipped(dataset.labels(), len(dataset.classes))
            records = dataset.records.copy()
            records["label"] = [dataset.classes[i] for i in labels]
            noisy = dataclasses.replace(dataset, records=records)
            items = [str(i) for i in range(len(labels))]
            start = time.perf_counter()
            issues = find_label_issues(features, noisy.labels(), noisy.classes, items)
            seconds = time.perf_counter() - start
            found = {int(i["file"]) for i in issues}
            planted = {int(i) for i in chosen}
            probs = out_of_fold_probabilities(features, labels, len(dataset.classes), 0,
                                              int(min(5, np.bincount(labels).min())))
            plain = set(np.argsort(probs[np.arange(len(labels)), labels], kind="stable")[: len(found)].tolist())
            hits, plain_hits = len(found & planted), len(plain & planted)
            print(f"{name:<11} ({role}) {len(labels)} items, {len(planted)} flipped; cleanlab flags {len(found)}: "
                  f"precision {hits / max(len(found), 1):.2f}, recall {hits / len(planted):.2f} ({seconds:.1f} s); "
                  "plain "
                  f"lowest-probability baseline, same count: precision {plain_hits / max(len(plain), 1):.2f}, "
                  f"recall {plain_hits / len(planted):.2f}; ratio tlcore/baseline (recall) "
                  f"{(hits / len(planted)) / max(plain_hits / len(planted), 1e-9):.3f}")


if __name__ == "__main__":
    main()
