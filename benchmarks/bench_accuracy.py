"""Held-out test accuracy of each strategy on the shared datasets, against a plain baseline.

For each dataset: tlcore's `train` with the given strategies (selection on validation, one
measurement on test), and, in the same process on the same split and features, the plain
baseline a practitioner writes first: scikit-learn's LogisticRegression (default C) on the
base's pooled features. Prints one line per strategy and, last, the ratio of tlcore's selected
model's test accuracy to the baseline's.

    .venv/bin/python benchmarks/bench_accuracy.py hymenoptera:predict,extract eurosat200:extract,finetune@128
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from tlcore.image.bases import load_backbone  # noqa: E402
from tlcore.image.data import import_dataset  # noqa: E402
from tlcore.image.extract import extract_features  # noqa: E402
from tlcore.train import TrainConfig, train  # noqa: E402

DEFAULT_RUNS = ["hymenoptera:predict,extract", "eurosat200:extract,finetune@128", "mnist100:extract,finetune@128"]


def plain_baseline(dataset, image_size: int) -> float:
    features = extract_features(dataset.files(), load_backbone(image_size=image_size)).features
    split = dataset.records["split"].to_numpy(dtype=object)
    y = dataset.labels()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        model.fit(features[split == "train"], y[split == "train"])
    return float(model.score(features[split == "test"], y[split == "test"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", default=DEFAULT_RUNS, help="DATASET:STRATEGY[,STRATEGY][@PX]")
    parser.add_argument("--budget-seconds", type=float, default=900)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; budget {args.budget_seconds:.0f} s per dataset")
    ratios = []
    with tempfile.TemporaryDirectory() as workspace:
        for spec in args.runs:
            name, rest = spec.split(":")
            strategies, _, size = rest.partition("@")
            dataset = import_dataset(args.datasets / name, Path(workspace))
            config = TrainConfig(strategies=tuple(strategies.split(",")), budget_seconds=args.budget_seconds,
                                 image_size=int(size) if size else None, stop_early=False)  # measure each asked
            start = time.perf_counter()
            result = train(dataset, config, Path(workspace))
            seconds = time.perf_counter() - start
            image_size = result.report["image_size"]
            for strategy, scores in result.report["per_strategy"].items():
                print(f"{name:<12} {strategy:<9} {scores['model']:<22} test accuracy {scores['accuracy']:.1%}  "
                      f"({image_size} px)")
            baseline = plain_baseline(dataset, image_size)
            selected = result.test.accuracy
            print(f"{name:<12} selected  {result.selected.strategy}/{result.selected.name}: {selected:.1%} in "
                  f"{seconds:.0f} s; plain LogisticRegression on features: {baseline:.1%}")
            ratios.append(selected / baseline)
    print(f"ratio tlcore/baseline: {np.exp(np.mean(np.log(ratios))):.3f} (geometric mean over {len(ratios)} datasets)")


if __name__ == "__main__":
    main()
