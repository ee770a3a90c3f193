"""A pilot for a close call: a short fine-tuning run measured on validation against a head on the frozen base.

Before training, whether fine-tuning will pay is an estimate (`tlcore.strategy`); where the
estimate is unsure, a minute or two of the real thing answers better. The pilot trains both
ways with the recommended base, image size, blocks and learning rate, within `PILOT_SECONDS`
(the same `train` as a run, with its cheapest extract head and no search), and compares them on
the validation split only, by the rule the run's selection uses: fine-tuning, the more complex
model, must lead by more than one standard error. Only validation numbers are read (the run
scores its models on test as every run does; the pilot never looks, and deletes the run).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import runs
from .progress import ProgressCallback
from .strategy import Recommendation

PILOT_SECONDS = 90.0
CLOSE_CALL = 0.7  # a recommendation less sure than this offers a pilot (the Analyse page, `analyze --pilot`)
PILOT_FOLDER = "pilots"


@dataclass(frozen=True)
class Pilot:
    """What the pilot measured on the validation split, and which way it says."""

    extract_accuracy: float
    finetune_accuracy: float
    val_items: int
    seconds: float
    unfreeze_blocks: int | None
    winner: str  # "extract" or "finetune"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def sentence(self, noun: str) -> str:
        return (f"Measured by a pilot ({self.seconds:.0f} s of training): fine-tuning"
                + (f" the top {self.unfreeze_blocks} blocks" if self.unfreeze_blocks else "")
                + f" scored {self.finetune_accuracy:.1%} on the {self.val_items} validation {noun}, a head on the "
                f"frozen base {self.extract_accuracy:.1%}; "
                + ("fine-tuning leads by more than one standard error, so it pays here."
                   if self.winner == "finetune" else
                   "fine-tuning does not lead by more than one standard error, so the simpler way is kept."))


def pilot_offer(advice: Mapping) -> str:
    """Why a pilot should decide `advice` (a `Recommendation.to_dict()`) between extract and fine-tuning, in
    words; "" when it should not.

    A close call of the expected gain (confidence under CLOSE_CALL); or any such call where fine-tuning's
    gain has no calibrated estimate for the base (texts, bases other than the default image base: the
    threshold rule decided). Measured leave-one-dataset-out on the calibration tables
    (`benchmarks/bench_recommend.py`): on images the pilot helps only on close calls (mean regret 0.51 ->
    0.37 points, 1.07 on every call); on texts, where no gain model beat the plain policies, the pilot on
    every call scored 0.75 against the threshold rule's 1.11.
    """
    if advice["strategy"] not in ("extract", "finetune"):
        return ""
    if "finetune" not in advice["expected_accuracy"]:
        return ("Whether fine-tuning pays has no calibrated estimate for this base (a fixed rule chose); a pilot "
                f"trains both ways for {PILOT_SECONDS:.0f} seconds and lets the validation split decide.")
    if advice["confidence"] < CLOSE_CALL:
        return ("A close call between a new head on the frozen base and fine-tuning. A pilot trains both for "
                f"{PILOT_SECONDS:.0f} seconds and lets the validation split decide.")
    return ""


def run_pilot(dataset, base: str, image_size: int | None, settings: dict, workspace: Path, *,
              seconds: float = PILOT_SECONDS, seed: int = 0, progress: ProgressCallback | None = None) -> Pilot:
    """Train extract (logistic regression only) and finetune briefly; compare them on validation."""
    from .train import FinetuneConfig, SearchConfig, TrainConfig, train
    from .train.select import standard_error

    config = TrainConfig(
        strategies=("extract", "finetune"), backbone=base, image_size=image_size, budget_seconds=seconds, seed=seed,
        baselines=("logistic_regression",), search=SearchConfig(max_trials=0), stop_early=False,
        finetune=FinetuneConfig(unfreeze_blocks=settings.get("unfreeze_blocks"),
                                learning_rate=settings.get("learning_rate")),
    )  # fmt: skip
    scratch = Path(workspace) / PILOT_FOLDER / runs.new_run_id()
    started = time.monotonic()
    result = train(dataset, config, scratch, progress=progress)
    spent = time.monotonic() - started
    board = result.leaderboard
    best = {name: float(board[board["strategy"] == name]["val_accuracy"].max()) for name in ("extract", "finetune")}
    n = len(dataset.labels("val"))
    tuned = next((c for c in result.candidates if c.strategy == "finetune"), None)
    winner = "finetune" if best["finetune"] > best["extract"] + standard_error(best["extract"], n) else "extract"
    shutil.rmtree(scratch, ignore_errors=True)  # only the numbers are kept; the models were only for measuring
    return Pilot(best["extract"], best["finetune"], n, round(spent, 1),
                 tuned.params.get("unfreeze_blocks") if tuned else None, winner)


def decided_by(advice: Recommendation, pilot: Pilot, noun: str, finetune_settings: dict) -> Recommendation:
    """The recommendation as the pilot decides it, saying so in its first reason."""
    margin = abs(pilot.finetune_accuracy - pilot.extract_accuracy)
    settings = dict(advice.settings)
    if pilot.winner == "finetune":
        settings |= finetune_settings
        settings.pop("heads", None)
    expected = advice.expected_accuracy | {"finetune": round(pilot.finetune_accuracy, 4)}
    return dataclasses.replace(
        advice, strategy=pilot.winner, confidence=round(min(0.95, 0.6 + margin * 5), 2),
        reasons=[pilot.sentence(noun), *advice.reasons], settings=settings, expected_accuracy=expected,
    )
