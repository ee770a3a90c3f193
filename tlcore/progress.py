"""Progress reporting shared by every long function: a plain callback, no UI assumed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Progress:
    """One step of a long task: `done` of `total` units of `stage` finished."""

    stage: str
    done: int
    total: int
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. loss and accuracy after an epoch or trial

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


ProgressCallback = Callable[[Progress], None]


def report(
    callback: ProgressCallback | None,
    stage: str,
    done: int,
    total: int,
    message: str = "",
    metrics: dict[str, float] | None = None,
) -> None:
    """Call `callback` if there is one, so long functions need no `if` of their own."""
    if callback is not None:
        callback(Progress(stage, done, total, message, dict(metrics or {})))


def restaged(callback: ProgressCallback | None, stage: str) -> ProgressCallback | None:
    """`callback` with every step reported under `stage` (a long function's steps shown as part of a larger one,
    e.g. one base's features while the bases are ranked); None when there is no callback."""
    if callback is None:
        return None

    def relay(step: Progress) -> None:
        callback(Progress(stage, step.done, step.total, step.message, dict(step.metrics)))

    return relay


def duration(value: float) -> str:
    """A duration in words: "8 s", "2 min 5 s"; "under 1 s" rather than "0 s" (read as "no time at all")."""
    if value < 0.5:
        return "under 1 s"
    whole = round(value)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60} s"
