"""Which model a run keeps: ranked on validation only, the simplest within one standard error of the best.

The test split plays no part here; it is read once, afterwards, for the models chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .candidate import Candidate
from .evaluate import accuracy, fit_temperature, negative_log_likelihood


@dataclass(frozen=True, eq=False)
class Selection:
    ordered: list[Candidate]  # best first: validation accuracy, then calibrated loss, then speed
    selected: Candidate  # the run's model
    chosen: dict[str, Candidate]  # one model per strategy to report; the selected one among them
    temperatures: dict[int, float]  # id(candidate) -> its temperature, fitted on validation

    def temperature(self, candidate: Candidate) -> float:
        return self.temperatures[id(candidate)]


def select(candidates: list[Candidate], y_val: np.ndarray) -> Selection:
    """Rank `candidates` on validation and choose the run's model and each strategy's."""
    temperatures = {id(c): fit_temperature(c.val_logits, y_val) if c.temperature_scaling else 1.0 for c in candidates}

    def rank(c: Candidate) -> tuple:
        loss = negative_log_likelihood(c.val_logits, y_val, temperatures[id(c)])
        return (-accuracy(c.val_logits, y_val), loss, c.latency_ms)

    ordered = sorted(candidates, key=rank)
    selected, chosen = strategy_choices(ordered, y_val)
    return Selection(ordered, selected, chosen, temperatures)


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
    n = len(y_val)
    best = accuracy(ordered[0].val_logits, y_val)
    adjusted = (best * n + 2) / (n + 4)
    error = float(np.sqrt(adjusted * (1 - adjusted) / n))
    eligible = [c for c in ordered if accuracy(c.val_logits, y_val) >= best - error]
    return min(eligible, key=lambda c: c.complexity)  # min() keeps the first (best ranked) among equals
