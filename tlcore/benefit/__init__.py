"""What transfer saved: the same data without transfer, and how accuracy grows with examples (issue 33).

Three entry points, the same for every kind of data:

- `train_scratch(dataset, config)`: the no-transfer model (images: a small CNN from random initialisation; texts:
  TF-IDF n-grams with a logistic regression) trained within `config.budget_seconds` on the dataset's own training
  and validation splits, tested once on its test split. What `train --compare-scratch` reports.
- `measure_benefit(dataset, config)`: that, plus the learning curve: the transferred model (`config.way`) and the
  no-transfer model retrained on 10%, 25%, 50% and 100% of the training split (stratified, seeded, nested), each
  tested on the same test split with a 95% interval, and what the curve says in words. `Benefit.to_dict()` is the
  report's `benefit` key. What the background job and `train --learning-curve` run.
- `needed_seconds(dataset, config)`: the least time the comparison needs on this machine (for the page's
  "expected time"); `check_budget` refuses a smaller budget with a `BudgetError` that says it.

The no-transfer model is chosen by the dataset's kind of data (`SCRATCH`, keyed by `dataset.modality`), the
transferred one by the way (`tlcore.benefit.transfer.WAYS`): no branch on "image" or "text".
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

import numpy as np

from ..errors import DataError, SettingError, UnknownNameError
from ..modality import modality_of
from ..progress import ProgressCallback, duration, report
from .config import FRACTIONS, WAY_OF_STRATEGY, BenefitConfig, BudgetError, Fitted, ScratchConfig
from .curve import (
    CurvePoint,
    data_ratio,
    fraction_rows,
    more_data_sentence,
    skip_reason,
    summary_sentence,
    wilson_interval,
)
from .transfer import WAYS, get_way

__all__ = [
    "FRACTIONS", "SCRATCH", "WAYS", "WAY_OF_STRATEGY", "Benefit", "BenefitConfig", "BudgetError", "CurvePoint",
    "Estimate", "ScratchConfig", "ScratchResult", "check_budget", "for_run_folder", "measure_benefit", "needed_seconds",
    "train_scratch",
]  # fmt: skip

# kind of data -> the module whose SCRATCH trains its no-transfer model (imported when first asked for)
SCRATCH: dict[str, str] = {"image": "tlcore.benefit.scratch_image", "text": "tlcore.benefit.scratch_text"}


def scratch_for(dataset):
    """The no-transfer model of the dataset's kind of data."""
    if dataset.modality not in SCRATCH:
        raise UnknownNameError("kind of data for the no-transfer model", dataset.modality, list(SCRATCH))
    return import_module(SCRATCH[dataset.modality]).SCRATCH


@dataclass(frozen=True, eq=False)
class ScratchResult:
    """The no-transfer model, tested once on the test split."""

    accuracy: float
    low: float  # 95% interval on the test split
    high: float
    seconds: float
    model: str
    predictions: np.ndarray  # class index per test item, in `dataset.labels("test")` order
    params: dict = field(default_factory=dict)

    @property
    def test_items(self) -> int:
        return len(self.predictions)

    def to_dict(self) -> dict:
        return {"accuracy": self.accuracy, "seconds": round(self.seconds, 1), "model": self.model, "low": self.low,
                "high": self.high, "test_items": self.test_items}


@dataclass(frozen=True, eq=False)
class Benefit:
    """The comparison and the curve, with what they say in words."""

    scratch: ScratchResult  # the no-transfer model on all of the training split
    curve: tuple[CurvePoint, ...]  # one point per fraction, smallest first; skipped points say why
    summary: str  # "With transfer, 25% of your images (12 per class) already reach 93%; without it, ..."
    more_data: str  # "More images would likely add about 3 points per doubling (...)" or "... unlikely to help"
    way: str
    transfer_model: str  # the transferred model in words, as retrained for the curve
    data_ratio: float | None  # the smallest fraction with which transfer reaches the no-transfer full-data accuracy
    seconds: float

    @property
    def transfer(self) -> CurvePoint | None:
        """The transferred model retrained on all of the training split (the curve's last point)."""
        return next((p for p in self.curve if p.fraction >= 1 and p.accuracy is not None), None)

    def to_dict(self) -> dict:
        """The report's `benefit` key: {scratch, curve, more_data} as issue 33 names them, then the rest."""
        full = self.transfer
        return {
            "scratch": self.scratch.to_dict(),
            "curve": [p.to_dict() for p in self.curve],
            "more_data": self.more_data,
            "summary": self.summary,
            "transfer": {"way": self.way, "model": self.transfer_model,
                         "accuracy": full.accuracy if full else None,
                         "seconds": round(full.seconds, 1) if full else None},
            "data_ratio": self.data_ratio,
            "seconds": round(self.seconds, 1),
        }


@dataclass(frozen=True)
class Estimate:
    """The least time the comparison needs on this machine, and what it is made of."""

    seconds: float
    parts: tuple[tuple[str, float], ...]

    def words(self) -> str:
        return "; ".join(f"{what}: {duration(seconds)}" for what, seconds in self.parts)


def _fractions(config: BenefitConfig) -> tuple[float, ...]:
    """The curve's fractions, smallest first, with all of the training split always among them."""
    for fraction in config.fractions:
        if not (isinstance(fraction, int | float) and 0 < fraction <= 1):
            raise SettingError(f"a fraction of the training split must be above 0 and at most 1; got {fraction!r}; "
                               f"use values such as {', '.join(f'{f:g}' for f in FRACTIONS)}")
    return tuple(sorted({float(f) for f in config.fractions} | {1.0}))


def _plan(dataset, config: BenefitConfig, fractions: tuple[float, ...]) -> list[tuple[float, np.ndarray, list, str]]:
    """Per fraction: the training rows it keeps, the count per class, and why it is skipped (or None)."""
    labels, noun = dataset.labels("train"), modality_of(dataset).noun
    plan = []
    for fraction in fractions:
        rows, counts = fraction_rows(labels, fraction, config.seed, len(dataset.classes))
        plan.append((fraction, rows, counts, skip_reason(fraction, counts, dataset.classes, noun)))
    return plan


def _estimate(dataset, config: BenefitConfig, fractions: tuple[float, ...], way) -> Estimate:
    scratch, noun = scratch_for(dataset), modality_of(dataset).noun
    sizes = [len(rows) for _, rows, _, skipped in _plan(dataset, config, fractions) if not skipped]
    points = f"{len(sizes)} fraction{'s' * (len(sizes) != 1)}"
    parts = [(f"reading {len(dataset)} {noun}", scratch.prepare_seconds(dataset, config)),
             (f"the no-transfer model, {scratch.least_words(config)} at {points}",
              sum(scratch.seconds_needed(dataset, config, n) for n in sizes))]
    if way is not None:
        parts.append((f"the transferred model ({config.way}) at {points}",
                      sum(way.seconds_needed(dataset, config, n) for n in sizes)))
    parts = [(what, seconds) for what, seconds in parts if seconds > 0]
    return Estimate(math.ceil(sum(seconds for _, seconds in parts)), tuple(parts))


def needed_seconds(dataset, config: BenefitConfig = BenefitConfig(), *, curve: bool = True) -> Estimate:
    """The least time `measure_benefit` (or, with `curve=False`, `train_scratch`) needs for `dataset` here.

    Estimated from per-item times measured on this machine, without loading anything. The frozen base's
    features are assumed cached (the run computed them); if they are not, computing them comes on top.
    """
    if curve:
        return _estimate(dataset, config, _fractions(config), get_way(config.way))
    return _estimate(dataset, config, (1.0,), None)


def check_budget(dataset, config: BenefitConfig = BenefitConfig(), *, curve: bool = True) -> Estimate:
    """The estimate, or a `BudgetError` naming the time needed when `config.budget_seconds` is less."""
    estimate = needed_seconds(dataset, config, curve=curve)
    budget = config.budget_seconds
    if not (isinstance(budget, int | float) and math.isfinite(budget)) or budget < estimate.seconds:
        what = "the comparison with no transfer" + (" and its learning curve" if curve else "")
        raise BudgetError(f"{what} needs at least {duration(estimate.seconds)} on this machine "
                          f"({estimate.words()}); got a budget of {budget:g} s: give it at least "
                          f"{estimate.seconds:g} s")
    return estimate


def _refuse_full(dataset, plan) -> None:
    """A `DataError` when the comparison cannot be made at all: no test split to score on, or a class with fewer
    than 2 items in all of the training split."""
    if not len(dataset.labels("test")):
        raise DataError("no comparison can be made: the dataset has no test split to score both models on; import "
                        "it again with a test fraction above 0")
    skipped = plan[-1][3]
    if skipped:
        raise DataError(f"no comparison can be made: {skipped}; add items to that class or merge it with another")


def _scored(fitted: Fitted, truth: np.ndarray) -> tuple[float, float, float]:
    correct = int(np.sum(np.asarray(fitted.predictions) == truth))
    low, high = wilson_interval(correct, len(truth))
    return correct / len(truth), low, high


class _Clock:
    """Shares what is left of the budget among the fits still to come, by their weights, after keeping for each
    later fit the least it needs; a fit that stops early (early stopping) leaves its time to the later ones."""

    def __init__(self, end: float, fits: list[tuple[float, float]]) -> None:
        self.end, self.fits = end, list(fits)  # (weight, least seconds) of each fit, in the order they run

    def least(self, count: int) -> float:
        """The least seconds the next `count` fits need."""
        return sum(least for _, least in self.fits[:count])

    def cannot_fit(self, count: int) -> bool:
        """Whether the next `count` fits' least times no longer fit in what is left of the budget (the time the
        fits so far took beyond their share, on a loaded machine, is not made up by overrunning the budget)."""
        return time.monotonic() + self.least(count) > self.end

    def skip(self, count: int) -> None:
        del self.fits[:count]

    def deadline(self) -> float:
        weight, least = self.fits.pop(0)
        now = time.monotonic()
        later = sum(w for w, _ in self.fits)
        spare = self.end - now - sum(s for _, s in self.fits) - least
        share = spare * weight / (weight + later) if weight + later > 0 else 0.0
        return now + least + max(share, 0.0)


def _out_of_time(fraction: float, clock: _Clock) -> str:
    return (f"{fraction:.0%} of the training split was not measured: the budget ran out before it (the fits so far "
            f"took longer than this machine's first estimate); give the comparison about "
            f"{duration(clock.least(2))} more to measure it")


def for_run_folder(run_dir: Path, budget_seconds: float, **overrides) -> tuple[object, BenefitConfig]:
    """The dataset a finished run trained on (its own copy in `<run>/dataset`, the same splits) and the comparison's
    settings for it: the run's base, image size, seed and fine-tuning settings, and its selected model's way."""
    from .. import runs
    from ..data.store import load_stored
    from ..train.config import TrainConfig

    run_dir = Path(run_dir)
    selected = runs.read_json(run_dir / "report.json").get("selected") or {}
    if "strategy" not in selected:
        raise SettingError(f"run {run_dir.name} has no selected model yet (no report.json); measure what transfer "
                           "saved once the run is complete")
    config = TrainConfig.from_dict(runs.read_json(run_dir / "config.json"))
    dataset = load_stored(run_dir / "dataset")
    return dataset, BenefitConfig.for_run(config, selected["strategy"], budget_seconds, **overrides)


def train_scratch(dataset, config: BenefitConfig = BenefitConfig(), *,
                  progress: ProgressCallback | None = None) -> ScratchResult:
    """The no-transfer model on all of the training split, within `config.budget_seconds`, tested once."""
    start = time.monotonic()
    check_budget(dataset, config, curve=False)
    plan = _plan(dataset, config, (1.0,))
    _refuse_full(dataset, plan)
    scratch, truth = scratch_for(dataset), dataset.labels("test")
    report(progress, "no transfer", 0, 1, f"reading {len(dataset)} {modality_of(dataset).noun}")
    data = scratch.prepare(dataset, config, progress)
    fitted = scratch.fit(data, plan[0][1], start + config.budget_seconds, config, progress)
    accuracy, low, high = _scored(fitted, truth)
    return ScratchResult(accuracy, low, high, fitted.seconds, fitted.model, np.asarray(fitted.predictions),
                         fitted.params)


def measure_benefit(dataset, config: BenefitConfig = BenefitConfig(), *,
                    progress: ProgressCallback | None = None) -> Benefit:
    """The no-transfer model and the transferred one on each fraction of the training split, within
    `config.budget_seconds`; the same validation and test splits throughout, each model tested once.

    The largest fraction goes first, so the headline (all of the data) is measured whatever happens later;
    the frozen base's features are computed once (`transfer.ExtractWay.prepare`) and reused by every fraction.
    """
    start = time.monotonic()
    fractions = _fractions(config)
    way, scratch = get_way(config.way), scratch_for(dataset)
    check_budget(dataset, config)
    plan = _plan(dataset, config, fractions)
    _refuse_full(dataset, plan)
    noun, truth = modality_of(dataset).noun, dataset.labels("test")
    measured = [(f, rows) for f, rows, _, skipped in reversed(plan) if not skipped]
    steps = 2 + 2 * len(measured)
    report(progress, "benefit", 0, steps, "the transferred model's features")
    transfer_data = way.prepare(dataset, config, progress)
    report(progress, "benefit", 1, steps, f"reading the {noun} for the no-transfer model")
    scratch_data = scratch.prepare(dataset, config, progress)
    fits = [(weight * fraction, fitter.seconds_needed(dataset, config, len(rows)))
            for fraction, rows in measured for weight, fitter in ((way.weight, way), (1.0, scratch))]
    clock = _Clock(start + config.budget_seconds, fits)
    results: dict[float, tuple[Fitted, Fitted]] = {}
    out_of_time: dict[float, str] = {}
    for number, (fraction, rows) in enumerate(measured):
        done = 2 + 2 * number
        if number and clock.cannot_fit(2):  # the budget is kept: a smaller fraction is dropped, saying why
            out_of_time[fraction] = _out_of_time(fraction, clock)
            clock.skip(2)
            continue
        report(progress, "benefit", done, steps, f"with transfer, {fraction:.0%} of the training split")
        transferred = way.fit(transfer_data, rows, clock.deadline(), config, progress)
        report(progress, "benefit", done + 1, steps, f"without transfer, {fraction:.0%} of the training split")
        results[fraction] = (transferred, scratch.fit(scratch_data, rows, clock.deadline(), config, progress))
    report(progress, "benefit", steps, steps, "done")

    points = []
    for fraction, _, counts, skipped in plan:
        per_class = int(np.median(counts))
        skipped = skipped or out_of_time.get(fraction)
        if skipped:
            points.append(CurvePoint(fraction, per_class, tuple(counts), skipped=skipped))
            continue
        transferred, alone = results[fraction]
        (accuracy, low, high), (s_accuracy, s_low, s_high) = _scored(transferred, truth), _scored(alone, truth)
        points.append(CurvePoint(fraction, per_class, tuple(counts), accuracy, low, high, s_accuracy, s_low, s_high,
                                 transferred.seconds, alone.seconds))
    transferred, alone = results[1.0]
    full = points[-1]
    summary = summary_sentence(points, noun)
    if full.scratch_accuracy > full.accuracy:
        summary += " The no-transfer model cannot be exported as a bundle yet."
    return Benefit(
        scratch=ScratchResult(full.scratch_accuracy, full.scratch_low, full.scratch_high, alone.seconds,
                              alone.model, np.asarray(alone.predictions), alone.params),
        curve=tuple(points),
        summary=summary,
        more_data=more_data_sentence(points, noun),
        way=config.way,
        transfer_model=transferred.model,
        data_ratio=data_ratio(points, full.scratch_accuracy),
        seconds=time.monotonic() - start,
    )
