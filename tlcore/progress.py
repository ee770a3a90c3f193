"""Progress reporting shared by every long function: a plain callback, no UI assumed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """One step of a long task: `done` of `total` units of `stage` finished."""

    stage: str
    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


ProgressCallback = Callable[[Progress], None]


def report(callback: ProgressCallback | None, stage: str, done: int, total: int, message: str = "") -> None:
    """Call `callback` if there is one, so long functions need no `if` of their own."""
    if callback is not None:
        callback(Progress(stage, done, total, message))
