"""The learning curve's arithmetic, with no model in it: which training items a fraction keeps, the uncertainty of
an accuracy on the test split, and what the curve says in plain words.

Kept apart from training so the page and the tests can check the sentences on made-up points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_PER_CLASS = 2  # a fraction keeping fewer items of a class than this is skipped: nothing can be cross-validated
Z_95 = 1.959964  # the normal quantile of a two-sided 95% interval
MIN_GAIN_POINTS = 1.0  # per doubling of the data: below this, "more data is unlikely to help much"


def fraction_rows(labels: np.ndarray, fraction: float, seed: int, n_classes: int) -> tuple[np.ndarray, list[int]]:
    """Positions (into `labels`, the training split) of a stratified, seeded `fraction` of it, and the count per
    class.

    Each class keeps round(fraction x its size) items drawn from one seeded order per class, the same for every
    fraction: a smaller fraction's items are inside every larger one's, so the curve's points differ only by the
    data added, not by a new draw.
    """
    rng = np.random.default_rng(seed)
    rows, counts = [], []
    for label in range(n_classes):
        members = rng.permutation(np.flatnonzero(labels == label))
        keep = len(members) if fraction >= 1 else math.floor(len(members) * fraction + 0.5)
        rows.append(members[:keep])
        counts.append(keep)
    return np.sort(np.concatenate(rows)).astype(np.int64), counts


def skip_reason(fraction: float, counts: list[int], classes: tuple[str, ...], noun: str) -> str | None:
    """Why the point of `fraction` cannot be measured (a class with fewer than 2 items), or None."""
    fewest = int(np.argmin(counts)) if counts else 0
    if counts and counts[fewest] >= MIN_PER_CLASS:
        return None
    found = counts[fewest] if counts else 0
    return (f"{fraction:.0%} of the training split keeps {found} of class {classes[fewest]!r}; a point needs at "
            f"least {MIN_PER_CLASS} {noun} of every class (to fit and to cross-validate), so it is skipped")


def wilson_interval(correct: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of an accuracy of `correct` in `total` test items (95% by default).

    Wilson rather than the normal approximation: it stays inside [0, 1] and is honest at 100% on few items.
    """
    if total <= 0:
        return 0.0, 1.0
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class CurvePoint:
    """One fraction of the training split: the transferred model's and the no-transfer model's test accuracy."""

    fraction: float
    per_class: int  # the median training items per class at this fraction (what the sentence says)
    counts: tuple[int, ...]  # training items per class, in the dataset's class order
    accuracy: float | None = None  # with transfer; None where the point was skipped
    low: float | None = None  # its 95% interval on the test split
    high: float | None = None
    scratch_accuracy: float | None = None
    scratch_low: float | None = None
    scratch_high: float | None = None
    seconds: float = 0.0  # training the transferred model at this fraction
    scratch_seconds: float = 0.0
    skipped: str | None = None  # why this point has no accuracy, in words

    @property
    def items(self) -> int:
        return int(sum(self.counts))

    def to_dict(self) -> dict:
        """The issue's keys (fraction, per_class, accuracy, low, high, scratch_accuracy), then the rest."""
        return {
            "fraction": self.fraction, "per_class": self.per_class, "accuracy": self.accuracy, "low": self.low,
            "high": self.high, "scratch_accuracy": self.scratch_accuracy, "scratch_low": self.scratch_low,
            "scratch_high": self.scratch_high, "items": self.items, "counts": list(self.counts),
            "seconds": round(self.seconds, 2), "scratch_seconds": round(self.scratch_seconds, 2),
            "skipped": self.skipped,
        }  # fmt: skip


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def _share(fraction: float, noun: str) -> str:
    return f"all of your {noun}" if fraction >= 1 else f"{fraction:.0%} of your {noun}"


def _per_class(point: CurvePoint) -> str:
    even = len(set(point.counts)) == 1
    return f"{'' if even else 'about '}{point.per_class} per class"


def data_ratio(points: list[CurvePoint], target: float | None) -> float | None:
    """The smallest measured fraction at which transfer reaches `target` (the no-transfer full-data accuracy)."""
    if target is None:
        return None
    reached = [p.fraction for p in points if p.accuracy is not None and p.accuracy >= target]
    return min(reached) if reached else None


def summary_sentence(points: list[CurvePoint], noun: str) -> str:
    """What transfer saved, in one sentence: how little data it needs to reach what no transfer reaches with all."""
    full = next((p for p in points if p.fraction >= 1), None)
    if full is None or full.accuracy is None or full.scratch_accuracy is None:
        return f"The comparison could not be made on all of your {noun} (see the skipped points)."
    target = full.scratch_accuracy
    without = f"without it, all of them reach {_percent(target)}"
    ratio = data_ratio(points, target)
    if ratio is not None and ratio < 1:
        point = next(p for p in points if p.fraction == ratio)
        return (f"With transfer, {_share(ratio, noun)} ({_per_class(point)}) already reach "
                f"{_percent(point.accuracy)}; {without}.")
    if ratio is not None:
        return f"With transfer, all of your {noun} reach {_percent(full.accuracy)}; {without}."
    close = full.high is not None and full.scratch_low is not None and full.high >= full.scratch_low
    return (f"Without transfer, all of your {noun} reach {_percent(target)}, more than the {_percent(full.accuracy)} "
            f"with transfer: here the pretrained base does not help"
            + (" (though the two are within the test split's uncertainty)." if close else
               "; the no-transfer model is the better one."))


def more_data_sentence(points: list[CurvePoint], noun: str) -> str:
    """Whether more data would pay, from the slope of the transferred model's last two measured points.

    The slope is counted per doubling of the data (accuracy grows about linearly in the log of the data), so a
    curve whose 50% point was skipped is read the same way.
    """
    measured = [p for p in points if p.accuracy is not None]
    if len(measured) < 2:
        return f"Too few points of the curve could be measured to tell whether more {noun} would help."
    before, last = measured[-2], measured[-1]
    rise = 100 * (last.accuracy - before.accuracy)
    per_doubling = rise / math.log2(last.fraction / before.fraction)
    where = f"from {before.fraction:.0%} to {last.fraction:.0%} of them, accuracy changed {rise:+.1f} points"
    if per_doubling >= MIN_GAIN_POINTS and last.accuracy < 1:
        gain = max(1, round(per_doubling))
        return f"More {noun} would likely add about {gain} point{'s' * (gain != 1)} per doubling ({where})."
    return f"More {noun} are unlikely to help much ({where})."
