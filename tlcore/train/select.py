"""Which model a run keeps: ranked on validation only, the simplest within one standard error of the best.

The test split plays no part here; it is read once, afterwards, for the models chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from .candidate import Candidate
from .evaluate import Calibration, accuracy, calibrate, negative_log_likelihood

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Selection:
    ordered: list[Candidate]  # best first: validation accuracy, then calibrated loss, then speed
    selected: Candidate  # the run's model
    chosen: dict[str, Candidate]  # one model per strategy to report; the selected one among them
    calibrations: dict[int, Calibration]  # id(candidate) -> its temperature and what it was fitted on

    def temperature(self, candidate: Candidate) -> Calibration:
        return self.calibrations[id(candidate)]


def select(candidates: list[Candidate], y_val: np.ndarray, y_train: np.ndarray | None = None) -> Selection:
    """Rank `candidates` on validation and choose the run's model and each strategy's.

    Each temperature is fitted on the validation split, whose predictions come from the model
    itself. Where that split holds no mistake (often, with 37 images for hymenoptera), a fit on it
    would sharpen without end, so the out-of-fold predictions of the training split (the
    baselines' cross-validation) are joined to it; they are not joined otherwise, because they come
    from models fitted on part of the training split, less sure than the final one: joined always,
    they softened mnist100's linear SVM from a test ECE of 0.037 to 0.112
    (benchmarks/bench_calibration.py). `tlcore.train.evaluate.calibrate` handles the rest.
    """
    calibrations = {id(c): calibration_of(c, y_val, y_train) for c in candidates}

    def rank(c: Candidate) -> tuple:
        loss = negative_log_likelihood(c.val_logits, y_val, calibrations[id(c)].temperature)
        return (-accuracy(c.val_logits, y_val), loss, c.latency_ms)

    ordered = sorted(candidates, key=rank)
    selected, chosen = strategy_choices(ordered, y_val)
    return Selection(ordered, selected, chosen, calibrations)


def calibration_of(candidate: Candidate, y_val: np.ndarray, y_train: np.ndarray | None) -> Calibration:
    if not candidate.temperature_scaling:
        return Calibration(1.0, 0, "not scaled: this model's probabilities are used as they are")
    perfect = not np.any(np.argmax(candidate.val_logits, axis=1) != y_val)
    if perfect and candidate.oof_logits is not None and y_train is not None:
        return calibrate(np.concatenate([candidate.oof_logits, candidate.val_logits]), np.concatenate([y_train, y_val]),
                         "out-of-fold predictions of the training split and the validation split (the validation "
                         "split alone holds no mistake)")
    return calibrate(candidate.val_logits, y_val, "the validation split")


def strategy_choices(ordered: list[Candidate], y_val: np.ndarray) -> tuple[Candidate, dict[str, Candidate]]:
    """The run's selected model, and one model per strategy to report, the selected one among them.

    Each strategy is represented by its own one-standard-error choice, except the selected model's
    strategy, which the selected model represents: a strategy whose best is below the run's best
    has a looser threshold, so its own choice could be a simpler model the run did not select.
    """
    selected = one_standard_error_choice(ordered, y_val)
    chosen = {}
    for name in dict.fromkeys(c.strategy for c in ordered):
        of_strategy = [c for c in ordered if c.strategy == name]
        chosen[name] = selected if name == selected.strategy else one_standard_error_choice(of_strategy, y_val)
    return selected, chosen


def one_standard_error_choice(ordered: list[Candidate], y_val: np.ndarray) -> Candidate:
    """The simplest model whose validation accuracy is within one standard error of the best.

    Validation sets are small (37 images for hymenoptera), so a more complex model that scores a
    point higher on them has often only been lucky; Breiman's one-standard-error rule keeps the
    simpler one unless the difference is larger than the measurement's own noise. The standard
    error uses the Agresti-Coull estimate (two successes and two failures added), which stays
    honest near 100%, where the plain p(1 - p) / n would claim no noise at all.
    """
    eligible = within_one_standard_error(ordered, lambda c: accuracy(c.val_logits, y_val), len(y_val))
    return min(eligible, key=lambda c: c.complexity)  # min() keeps the first (best ranked) among equals


def within_one_standard_error(items: list[T], score: Callable[[T], float], n: int) -> list[T]:
    """The items (in their order) whose score on n validation items is within one standard error of the best."""
    scores = [score(item) for item in items]
    best = max(scores)
    return [item for item, value in zip(items, scores, strict=True) if value >= best - standard_error(best, n)]


def standard_error(score: float, n: int) -> float:
    """The Agresti-Coull standard error of an accuracy measured on n items."""
    adjusted = (score * n + 2) / (n + 4)
    return float(np.sqrt(adjusted * (1 - adjusted) / n))


def ceiling_within_reach(score: float, n: int) -> bool:
    """Whether no later model can beat `score` by more than one standard error on n validation items.

    The selection keeps the simpler model unless a more complex one leads by more than that, so once
    the best score is within one standard error of what any model could still score (all n right, at
    most), more search cannot pay: the run may stop.
    """
    reach = max(k / n - standard_error(k / n, n) for k in range(n + 1))
    return score >= reach - 1e-12
