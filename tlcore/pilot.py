"""A pilot for a close call: a short fine-tuning run measured on validation against a head on the frozen base.

Before training, whether fine-tuning will pay is an estimate (`tlcore.strategy`); where the
estimate is unsure, a minute or two of the real thing adds a measurement. The pilot trains both
ways with the recommended base, image size, blocks and learning rate, within `PILOT_SECONDS`
(the same `train` as a run, with its cheapest extract head and no search), and compares them on
the validation split only. Only validation numbers are read (the run scores its models on test as
every run does; the pilot never looks, and deletes the run).

Where the advice carries an estimate of fine-tuning's gain (`tlcore.gain`), the pilot does not
replace it: both are readings of the same gain with a known error (the estimate's typical error;
the pilot's binomial error on a validation split of often 12-80 items), so they are weighed by
their precision and the weighed gain decides, as the estimate alone did. A pilot that leads by
less than its noise cannot overturn a clear estimate, and a clear pilot overturns a weak one.
Where there is no estimate (texts, other bases), a threshold rule made the call, and the pilot
overturns it only when it leads the other way by more than `CLEAR_LEAD` standard errors. Deciding
alone by the run's one-standard-error rule made those calls worse on the calibration tables (images
0.52 -> 1.27 points of mean regret over 49 rows, texts 1.10 -> 1.51 over 24); no pilot there ever
led against the rule by more than one standard error, so a clear lead is rare and the page does
not offer a pilot where there is no estimate (`analyze --pilot` runs one on request).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import runs
from .gain import expected_loss, sign_sure
from .progress import ProgressCallback
from .strategy import EXTRACT_HEADS, Recommendation, loss_sentence, points_needed

PILOT_SECONDS = 90.0
CLOSE_CALL = 0.7  # a recommendation less sure than this offers a pilot (the Analyse page, `analyze --pilot`)
CLEAR_LEAD = 2.0  # standard errors by which a pilot must lead to overturn a rule's call that has no estimate
PILOT_FOLDER = "pilots"


@dataclass(frozen=True)
class Pilot:
    """What the pilot measured on the validation split, and which way it says."""

    extract_accuracy: float
    finetune_accuracy: float
    val_items: int
    seconds: float
    unfreeze_blocks: int | None
    winner: str  # "extract" or "finetune", by the pilot alone (the one-standard-error rule)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def lead(self) -> tuple[float, float]:
        """Fine-tuning's lead over the frozen head on validation, in points, and its standard error.

        Each accuracy's error is the selection's own (`tlcore.train.select.standard_error`, which adds
        two right and two wrong answers, so that 12 right out of 12 is not taken for certainty).
        """
        from .train.select import standard_error

        n = max(self.val_items, 1)
        error = math.hypot(standard_error(self.extract_accuracy, n), standard_error(self.finetune_accuracy, n))
        return 100 * (self.finetune_accuracy - self.extract_accuracy), 100 * error

    def measured(self, noun: str) -> str:
        return (f"Measured by a pilot ({self.seconds:.0f} s of training): fine-tuning"
                + (f" the top {self.unfreeze_blocks} blocks" if self.unfreeze_blocks else "")
                + f" scored {self.finetune_accuracy:.1%} on the {self.val_items} validation {noun}, a head on the "
                f"frozen base {self.extract_accuracy:.1%}")

    def against_rule(self, rule: str, noun: str) -> tuple[str, str]:
        """The way a rule's call `rule` (no estimate of the gain) becomes with this pilot, and why in words:
        the pilot overturns it only by leading the other way by more than CLEAR_LEAD standard errors."""
        lead, error = self.lead()
        toward = "finetune" if lead > 0 else "extract" if lead < 0 else rule
        strategy = toward if abs(lead) > CLEAR_LEAD * error else rule
        if toward == rule:
            verdict = "the pilot leans the same way as the rule's call, which stands"
        elif strategy != rule:
            verdict = (f"the pilot leads against the rule's call by more than {CLEAR_LEAD:g} standard errors "
                       "and overturns it")
        else:
            verdict = (f"the rule's call stands: overturning it takes a lead of more than {CLEAR_LEAD * error:.1f} "
                       f"points the other way ({CLEAR_LEAD:g} standard errors)")
        return strategy, (f"{self.measured(noun)} ({lead:+.1f} points, give or take {error:.1f}). Fine-tuning's "
                          f"gain has no calibrated estimate here; {verdict}.")


def weigh(estimate: float, estimate_error: float, measured: float, measured_error: float) -> tuple[float, float]:
    """Two independent readings of one quantity, each weighted by its precision (1 / error²); with the error."""
    precision = 1 / max(estimate_error, 1e-6) ** 2, 1 / max(measured_error, 1e-6) ** 2
    total = sum(precision)
    return (estimate * precision[0] + measured * precision[1]) / total, total ** -0.5


def pilot_offer(advice: Mapping) -> str:
    """Why a pilot should measure `advice` (a `Recommendation.to_dict()`) between extract and fine-tuning, in
    words; "" when it should not.

    A close call of the expected gain (confidence under CLOSE_CALL). Measured leave-one-dataset-out on
    the image calibration tables (`benchmarks/bench_recommend.py`): the pilot weighed with the estimate
    on close calls brings the mean regret from 0.85 to 0.72 points (on every call: 0.88, for 90 s more
    per analysis). Where a threshold rule decided (texts, bases other than the default image base), no
    pilot is offered: see the module docstring.
    """
    if advice["strategy"] not in ("extract", "finetune") or advice.get("expected_gain") is None:
        return ""
    if advice["confidence"] < CLOSE_CALL:
        return ("A close call between a new head on the frozen base and fine-tuning. A pilot trains both for "
                f"{PILOT_SECONDS:.0f} seconds and weighs what the validation split measures with the estimate.")
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
    """The recommendation with the pilot's measurement (weighed with the estimate where there is one),
    saying so in its first reason."""
    expected, loss = dict(advice.expected_accuracy), None
    if advice.expected_gain is None:
        strategy, reason = pilot.against_rule(advice.strategy, noun)
        confidence = sign_sure(*pilot.lead()) if strategy != advice.strategy else advice.confidence
        expected["finetune"] = round(pilot.finetune_accuracy, 4)
    else:
        lead, lead_error = pilot.lead()
        points, error = weigh(advice.expected_gain, advice.gain_error, lead, lead_error)
        needed = points_needed(advice.aim, error, advice.expected_seconds)
        strategy = "finetune" if points > needed else "extract"
        loss = round(expected_loss(points, error, strategy), 2)
        reason = (f"{pilot.measured(noun)} ({lead:+.1f} points, give or take {lead_error:.1f}). Weighed with the "
                  f"estimate before training ({advice.expected_gain:+.1f}, give or take {advice.gain_error:.1f}) by "
                  f"how precise each is, fine-tuning is expected to add {points:+.1f} points (give or take "
                  f"{error:.1f}), so " + ("it pays here." if strategy == "finetune" else "the simpler way is kept.")
                  + " " + loss_sentence(loss))
        confidence = sign_sure(points - needed, error)
        expected["finetune"] = round(min(1.0, expected["extract"] + points / 100), 4)
    settings = dict(advice.settings)
    if strategy == "finetune":
        settings |= finetune_settings
        settings.pop("heads", None)
    else:
        settings = {k: v for k, v in settings.items() if k not in finetune_settings}
        settings.setdefault("heads", list(EXTRACT_HEADS))
    return dataclasses.replace(
        advice, strategy=strategy, confidence=round(min(0.95, confidence), 2),
        reasons=[reason, *advice.reasons], settings=settings, expected_accuracy=expected, expected_loss=loss,
    )
