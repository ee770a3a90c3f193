""""None of my classes": how often a bundle trained on one dataset flags images of other datasets, and its own.

For the training set (default hymenoptera: photos of ants and bees), each strategy asked for is
trained (`train --strategy ...`, scikit-learn baselines on cached features, no head search; fine-
tuning only when asked), its bundle built, and every image of the test split and of the other
datasets (satellite tiles, handwritten digits) put through the bundle with `tlcore.predict`: the
share flagged unknown is printed for each. The plain baseline, in the same process on the same
probabilities, is the largest probability (Hendrycks & Gimpel, 2017) with its line set the same
way (95% of the validation split passes). Printed last: the share of foreign images each rule
flags, and their ratio (above 1: ours finds more).

Nothing is fitted on the foreign datasets: the 95% line is fixed in advance and set on the training
set's own validation split.

    .venv/bin/python benchmarks/bench_unknown.py hymenoptera --foreign eurosat200 mnist100
"""

from __future__ import annotations

import argparse
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

from tlcore.export import export_bundle  # noqa: E402
from tlcore.image.data import import_dataset  # noqa: E402
from tlcore.predict import load_bundle, predict  # noqa: E402
from tlcore.train import SearchConfig, TrainConfig, train  # noqa: E402
from tlcore.unknown import PASS_SHARE  # noqa: E402

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def images_of(folder: Path, limit: int) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    step = max(1, len(files) // limit)
    return files[::step][:limit]


def answers(bundle, files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """(flagged by the unknown score, largest probability) per image."""
    results = predict(bundle, files)
    return np.array([r["unknown"] for r in results]), np.array([r["prob"] for r in results])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", nargs="?", default="hymenoptera")
    parser.add_argument("--foreign", nargs="*", default=["eurosat200", "mnist100"])
    parser.add_argument("--strategies", nargs="*", default=["predict", "extract"])
    parser.add_argument("--per-set", type=int, default=500, help="foreign images per dataset (spread evenly)")
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; trained on {args.dataset}; "
          f"line: {PASS_SHARE:.0%} of its validation split passes")
    ours_all, plain_all = [], []
    with tempfile.TemporaryDirectory() as workspace:
        dataset = import_dataset(args.root / args.dataset, Path(workspace))
        foreign = {name: images_of(args.root / name, args.per_set) for name in args.foreign}
        for strategy in args.strategies:
            started = time.perf_counter()
            config = TrainConfig(strategies=(strategy,), baselines=("logistic_regression", "linear_svm"),
                                 search=SearchConfig(max_trials=0), budget_seconds=900)
            result = train(dataset, config, Path(workspace))
            bundle = load_bundle(export_bundle(result, tflite=False))
            _, val_prob = answers(bundle, dataset.files("val"))
            line = np.quantile(val_prob, 1 - PASS_SHARE, method="lower")  # 95% of validation is at least this sure
            flagged, prob = answers(bundle, dataset.files("test"))
            print(f"\n{strategy} ({result.selected.name}, test accuracy {result.test.accuracy:.1%}, "
                  f"{time.perf_counter() - started:.0f} s)")
            print(f"  own test split ({len(prob)} images): unknown score flags {flagged.mean():.1%}, "
                  f"largest probability flags {np.mean(prob < line):.1%}")
            for name, files in foreign.items():
                flagged, prob = answers(bundle, files)
                ours_all.append(flagged.mean())
                plain_all.append(np.mean(prob < line))
                print(f"  {name} ({len(files)} images): unknown score flags {flagged.mean():.1%}, "
                      f"largest probability flags {np.mean(prob < line):.1%}")
    ours, plain = float(np.mean(ours_all)), float(np.mean(plain_all))
    print(f"\nforeign images flagged, mean over strategies and datasets: unknown score {ours:.1%}, "
          f"largest probability {plain:.1%}; ratio {ours / max(plain, 1e-9):.2f}")


if __name__ == "__main__":
    main()
