"""Anytime training: the run has a model from its first fitted candidate on, and stops when more cannot pay.

Every candidate a strategy makes is offered here as soon as it exists. The best so far is the
same choice the end of the run makes (`select`: validation only, the simplest within one standard
error of the best, at the same score the better calibrated), so a later model replaces it only
where the end of the run would choose it (a logistic regression replaced a ridge classifier at the
same 88.8% on digits, by its calibrated loss: the page says so). The first one is
written as a whole interim run, with its test score and its bundle (`first/`), so a user can take
a good model seconds after the features while the search goes on; `best_so_far.json` follows
every change for the pages. Before each later stage, `should_stop` says whether the validation
split could still tell a better model from the best so far; if not, the stage is skipped and the
report says why and how much budget it left unused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import runs
from .candidate import Candidate
from .evaluate import accuracy
from .select import ceiling_within_reach, select

BEST_FILE = "best_so_far.json"
FIRST_FOLDER = "first"


@dataclass(eq=False)
class BestSoFar:
    """The run's choice as candidates arrive; `on_first(candidates)` runs once, for the first one."""

    run_dir: Path
    y_val: np.ndarray
    y_train: np.ndarray
    started: float  # time.monotonic() when the run began (features included)
    base: str = ""  # the base's name, for the pages' words
    on_first: Callable[[list[Candidate]], None] | None = None
    candidates: list[Candidate] = field(default_factory=list)
    best: Candidate | None = None
    replaced: int = 0
    unchanged: int = 0  # models offered in a row since the best so far last changed
    first_seconds: float | None = None
    best_seconds: float | None = None  # when the best so far came: the model the run keeps, at its end
    stops: list[dict] = field(default_factory=list)

    def offer(self, candidate: Candidate) -> None:
        """A new model: kept as the best so far only if the run's selection would choose it now."""
        if any(c is candidate for c in self.candidates):
            return
        self.candidates.append(candidate)
        chosen = select(self.candidates, self.y_val, self.y_train).selected
        if chosen is self.best:
            self.unchanged += 1
            return
        self.unchanged = 0
        self.replaced += self.best is not None
        self.best = chosen
        seconds = self.best_seconds = time.monotonic() - self.started
        runs.write_json(self.run_dir / BEST_FILE, {
            "strategy": chosen.strategy, "model": chosen.name, "base": self.base, "val_accuracy": self.val_accuracy,
            "val_items": len(self.y_val), "seconds": round(seconds, 1), "replaced": self.replaced,
            "first_seconds": round(self.first_seconds or seconds, 1),
        })  # fmt: skip
        if self.first_seconds is None:
            self.first_seconds = seconds
            if self.on_first is not None:
                self.on_first([chosen])

    @property
    def val_accuracy(self) -> float | None:
        return accuracy(self.best.val_logits, self.y_val) if self.best is not None else None

    def should_stop(self, stage: str, seconds_left: float) -> bool:
        """Whether `stage` cannot pay: the best so far is within one standard error of the ceiling. Recorded."""
        if self.best is None or not ceiling_within_reach(self.val_accuracy, len(self.y_val)):
            return False
        right = round(self.val_accuracy * len(self.y_val))
        self.record_stop(stage, f"the best so far ({self._title()}) has {right} of "
                                f"{len(self.y_val)} validation items right: no later model could lead it by more than "
                                "the one standard error the selection asks of a more complex model", seconds_left)
        return True

    def stale(self, count: int, stage: str, seconds_left: float) -> bool:
        """Whether the last `count` models all failed to become the best so far: then `stage` is skipped. Recorded."""
        if self.best is None or self.unchanged < count:
            return False
        self.record_stop(stage, f"the last {self.unchanged} models did not beat the best so far "
                                f"({self._title()}) on validation", seconds_left)
        return True

    def _title(self) -> str:
        """The best so far in the pages' words ("Logistic regression"; walk 6 read "extract/logistic_regression")."""
        from ..words import base_title, model_title

        return model_title(self.best.strategy, self.best.name, base_title(self.base) if self.base else "")

    def record_stop(self, stage: str, reason: str, seconds_left: float) -> None:
        """A stage skipped, or cut short, because it could not pay; said in the report."""
        self.stops.append({"skipped": stage, "reason": reason, "seconds_given_back": round(max(seconds_left, 0.0), 1)})

    def summary(self, total_seconds: float, budget_seconds: float) -> dict:
        """What the report says: when the first model came, when the one the run keeps came (walk 9 read "its final
        one after 1 min 39 s", the run's end, for a model found at 3 s), how often it was replaced, when the run
        ended, what was skipped and why, and how much of the budget the run left unused (each stop's
        `seconds_given_back` went to later stages or stayed unused)."""
        def rounded(seconds: float | None) -> float | None:
            return round(seconds, 1) if seconds is not None else None

        return {"time_to_first_model": rounded(self.first_seconds), "time_to_kept_model": rounded(self.best_seconds),
                "time_to_final_model": round(total_seconds, 1), "replaced": self.replaced, "stopped_early": self.stops,
                "unused_seconds": round(max(budget_seconds - total_seconds, 0.0), 1)}


def read_best(run_dir: Path) -> dict:
    """The best so far of a run ({} before its first model)."""
    return runs.read_json(Path(run_dir) / BEST_FILE)
