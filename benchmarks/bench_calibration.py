"""Honest confidence on the shared image sets: tlcore's temperature against the plain rule (a likelihood fit on the
validation split alone, within 0.05..20) and against always joining the out-of-fold predictions of the training
split, in the same process on the same models.

For each dataset: `train --strategy extract` (scikit-learn baselines on the cached features, no head search),
then for every baseline the run trained, both temperatures; printed per dataset for the run's selected
model: each temperature (and whether the plain one ran to a bound), test ECE before and after with its 95%
bootstrap interval, and the median confidence of the test mistakes. Last, the ratio of the two rules' mean
test ECE over every baseline of every dataset (below 1: the new rule is better calibrated). Nothing here was
fitted on these datasets: the rule has no tuned threshold.

    .venv/bin/python benchmarks/bench_calibration.py hymenoptera eurosat200 mnist100
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from scipy.special import softmax  # noqa: E402

from tlcore.image.data import import_dataset  # noqa: E402
from tlcore.train import SearchConfig, TrainConfig, train  # noqa: E402
from tlcore.train.evaluate import (  # noqa: E402
    bootstrap_interval,
    calibrate,
    expected_calibration_error,
    fit_temperature,
)
from tlcore.train.select import calibration_of  # noqa: E402

PLAIN_BOUNDS = (0.05, 20.0)  # the rule before: a temperature fitted on the validation split, within these


def judged(logits: np.ndarray, y: np.ndarray, temperature: float) -> dict:
    probs = softmax(logits / temperature, axis=1)
    wrong = probs.argmax(1) != y
    return {"ece": expected_calibration_error(probs, y),
            "interval": bootstrap_interval(probs, y, expected_calibration_error),
            "mistake_confidence": float(np.median(probs.max(1)[wrong])) if wrong.any() else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", default=["hymenoptera", "eurosat200", "mnist100"])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores")
    plain_eces, new_eces, joined_eces = [], [], []
    with tempfile.TemporaryDirectory() as workspace:
        for name in args.datasets:
            dataset = import_dataset(args.root / name, Path(workspace))
            config = TrainConfig(strategies=("extract",), search=SearchConfig(max_trials=0), budget_seconds=900)
            result = train(dataset, config, Path(workspace))
            y = {s: dataset.labels(s) for s in ("train", "val", "test")}
            for candidate in result.candidates:
                plain_t = fit_temperature(candidate.val_logits, y["val"], PLAIN_BOUNDS)
                new = calibration_of(candidate, y["val"], y["train"])
                joined = calibrate(np.concatenate([candidate.oof_logits, candidate.val_logits]),
                                   np.concatenate([y["train"], y["val"]]), "joined") \
                    if candidate.oof_logits is not None else new
                always = judged(candidate.test_logits, y["test"], joined.temperature)
                joined_eces.append(always["ece"])
                plain, ours = judged(candidate.test_logits, y["test"], plain_t), \
                    judged(candidate.test_logits, y["test"], new.temperature)
                plain_eces.append(plain["ece"])
                new_eces.append(ours["ece"])
                if candidate is not result.selected:
                    continue
                raw = judged(candidate.test_logits, y["test"], 1.0)
                at_bound = plain_t <= PLAIN_BOUNDS[0] * 1.25 or plain_t >= PLAIN_BOUNDS[1] / 1.25
                print(f"{name:<12} {candidate.name:<20} val {np.mean(candidate.val_logits.argmax(1) == y['val']):.1%} "
                      f"of {len(y['val'])}; test ECE raw {raw['ece']:.3f}")
                print(f"{'':<12} plain (validation only): T {plain_t:.3f}{' (at a bound)' if at_bound else ''}, "
                      f"test ECE {plain['ece']:.3f} [{plain['interval'][0]:.3f}, {plain['interval'][1]:.3f}], "
                      f"mistakes' median confidence {plain['mistake_confidence']:.1%}")
                print(f"{'':<12} always joined: T {joined.temperature:.3f}, test ECE {always['ece']:.3f}, "
                      f"mistakes' median confidence {always['mistake_confidence']:.1%}")
                print(f"{'':<12} tlcore ({new.items} predictions): T {new.temperature:.3f}"
                      f"{' (' + new.note + ')' if new.note else ''}, test ECE {ours['ece']:.3f} "
                      f"[{ours['interval'][0]:.3f}, {ours['interval'][1]:.3f}], mistakes' median confidence "
                      f"{ours['mistake_confidence']:.1%}")
    print(f"mean test ECE over {len(new_eces)} models: plain {np.mean(plain_eces):.4f}, always joined "
          f"{np.mean(joined_eces):.4f}, tlcore {np.mean(new_eces):.4f}")
    print(f"ratio tlcore/baseline: {np.mean(new_eces) / np.mean(plain_eces):.3f}")


if __name__ == "__main__":
    main()
