"""What fine-tuning is expected to add over a head on the frozen base, and what each strategy costs in time.

Whether fine-tuning pays is not "far or near": on photos close to ImageNet it paid with enough
images per class; on far data with ten images per class it overfits. So the recommendation asks a
small linear model, fitted on a calibration set (`benchmarks/calibration.py`: variants of every
image set available offline, each measured before training and then trained all three ways), for
the **expected gain** in test-accuracy points, from numbers measured before any training:

- `room`: the points a frozen base leaves, 100 x (1 - the linear probe's cross-validated accuracy);
- `distance`: how far the data is from the base's own (images: the mean BatchNorm shift);
- `log_per_class`: log2 of the images per class (what there is to adapt the base with);
- `room_x_data`: room times log_per_class (room is worth more with the data to take it);
- `log_train`: log2 of the training images in all (what fine-tuning adapts the base with, whatever the
  number of classes).

A model reads some of them (its `weights` name which): the default base's image model reads the
distance and the images per class only, since the room terms did no better held out, nor the
training images in all in place of the images per class (`tlcore.image.gain`); `fit_gain` fits any
subset, so forms can be compared on the same rows.

A ridge fit on standardised features keeps the weights readable and small on a small table; the
residual spread says how sure an expected gain is (the recommendation's confidence). Time is a
rate per training item for each strategy (median over the table), so the advice can say what the
extra minutes buy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

FEATURES = ("room", "distance", "log_per_class", "room_x_data", "log_train")
FOUR_TERMS = FEATURES[:4]  # the first form fitted, and the texts' (which have no gain model in the product)
RIDGE = 1.0  # on standardised features: shrinks weights a small table cannot support
# the calibration table's training seconds of each strategy: for extract the scikit-learn heads only, since
# the head search stops once it cannot pay (the calibration ran it to its budget share, for comparison)
TIME_COLUMNS = {"predict": "seconds_predict", "extract": "seconds_extract_heads", "finetune": "seconds_finetune"}


def features_of(probe: float, distance: float, per_class: float, n_train: int) -> dict[str, float]:
    """The model's inputs from what the analysis measures (see the module docstring)."""
    room = 100 * (1 - probe)
    data = math.log2(max(per_class, 1.0))
    return {"room": room, "distance": distance, "log_per_class": data, "room_x_data": room * data,
            "log_train": math.log2(max(n_train, 1))}


@dataclass(frozen=True)
class GainModel:
    """Expected points of test accuracy that fine-tuning adds over extract, with the spread of its error."""

    intercept: float
    weights: dict[str, float]  # points per unit of each feature (unstandardised)
    residual_points: float  # root mean square error of the fit, in points
    seconds_per_item: dict[str, float]  # strategy -> seconds of training per training item
    fitted_on: tuple[str, ...] = field(default=())  # the calibration origins (datasets) it was fitted on
    base: str = ""  # the base it was measured with; another base is not covered by it

    def expected_gain(self, probe: float, distance: float, per_class: float, n_train: int) -> float:
        values = features_of(probe, distance, per_class, n_train)
        return self.intercept + sum(w * values[name] for name, w in self.weights.items())

    def sure(self, gain: float) -> float:
        """How likely the sign of `gain` is right, under a normal error of the fit's spread (0.5..1)."""
        return sign_sure(gain, self.residual_points)

    def seconds(self, strategy: str, n_train: int) -> float:
        return self.seconds_per_item.get(strategy, 0.0) * n_train


def sign_sure(points: float, error: float) -> float:
    """How likely the sign of an estimate of `points` is right, under a normal error of spread `error` (0.5..1)."""
    return 0.5 * (1 + math.erf(abs(points) / (max(error, 1e-6) * math.sqrt(2))))


def expected_loss(points: float, error: float, chosen: str) -> float:
    """Points of accuracy that choosing `chosen` ("extract" or "finetune") is expected to lose against the better
    of the two, where fine-tuning's gain is estimated at `points` with a normal error of spread `error`: the mean
    of max(0, the other way's lead), chance included. A wrong call on a close estimate costs little; a clear
    estimate is rarely wrong."""
    lead = points if chosen == "extract" else -points  # what the other way is expected to lead by
    z = lead / max(error, 1e-6)
    return lead * 0.5 * (1 + math.erf(z / math.sqrt(2))) + error * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def fit_gain(rows: Iterable[Mapping], base: str = "", features: tuple[str, ...] = FOUR_TERMS) -> GainModel:
    """Fit a GainModel on calibration rows (`benchmarks/calibration.py`'s columns), over `features` (some of
    FEATURES: a smaller form can be compared with the product's on the same rows)."""
    rows = list(rows)
    x = np.array([[features_of(r["probe"], r["distance"], r["per_class"], r["n_train"])[f] for f in features]
                  for r in rows])
    y = np.array([100 * (r["test_finetune"] - r["test_extract"]) for r in rows])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale  # centred: the intercept is left out of the ridge penalty
    beta = np.linalg.solve(z.T @ z + RIDGE * np.eye(len(features)), z.T @ (y - y.mean()))
    weights = beta / scale
    intercept = float(y.mean() - mean @ weights)
    residual = y - (x @ weights + intercept)
    dof = max(len(rows) - len(features) - 1, 1)
    per_item = {s: float(np.median([r[column] / max(r["n_train"], 1) for r in rows
                                    if isinstance(r.get(column), int | float)] or [0.0]))
                for s, column in TIME_COLUMNS.items()}
    return GainModel(
        intercept=round(intercept, 4),
        weights={f: round(float(w), 5) for f, w in zip(features, weights, strict=True)},
        residual_points=round(float(np.sqrt(residual @ residual / dof)), 3),
        seconds_per_item={s: round(v, 4) for s, v in per_item.items()},
        fitted_on=tuple(sorted({str(r["origin"]) for r in rows})),
        base=base,
    )
