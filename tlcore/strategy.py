"""Which way of reusing the base fits the data, with the numbers that say why.

The folk rule (small and similar: extract; large and different: fine-tune) is where this started;
it missed "large and similar" (fine-tuning paid on ImageNet-like flower photos with enough of them).
The decision rests on quantities measured on the training and validation data:

1. **predict** when using the base as it is is expected to do as well as a trained head:
   its expected accuracy (the name map's accuracy where the class names are ImageNet classes,
   else the empirical label map's cross-validated accuracy) is within 1 point of the best
   linear probe's. No training, nothing to overfit.
2. **finetune** when its **expected gain** over a head on the frozen base is worth it for the user's
   aim: more than 0 points for "best" accuracy; for "fast" (good and fast, the default) at least
   `FAST_GAIN_POINTS` and more than the estimate's own typical error, since a gain within its error
   is not worth minutes; but any gain where fine-tuning is expected within `FAST_TIME_FACTOR` (1.5)
   times a head's time, since it then costs no more minutes than the aim allows. The gain comes from
   the modality's calibrated model (`tlcore.gain`: the distance from the base's domain, the examples
   per class), fitted on a calibration set of many datasets and their variants and scored
   leave-one-dataset-out (`benchmarks/bench_recommend.py`), and never exceeds the room the frozen head leaves
   (100 minus its measured accuracy). The advice names the expected gain, its typical error and the
   extra minutes on this machine (`tlcore.costs`). The confidence is how likely the gain's sign is
   right.
   Where a modality has no calibrated model for its base (texts today), the threshold rule
   decides for "best": the probe below 97%, the data far from the base's domain (images: mean
   BatchNorm shift >= 0.15), at least 50 examples per class; "fast" keeps the frozen head there,
   since nothing says before training that fine-tuning's minutes buy points, unless fine-tuning is
   expected within `FAST_TIME_FACTOR` (1.5) times the head's time: then it costs no more minutes than
   the aim allows, and a run keeps its first head wherever fine-tuning does not beat it on validation.
   The blocks to unfreeze follow the shift profile: from the first block whose shift reaches
   half of the largest, at most 12 (the whole base at once was measured to collapse), at least 4,
   and at most 6 with fewer than 100 images per class.
3. **extract** otherwise: a new head on the frozen base's cached features.

"Far" is read by the data's modality (`tlcore.modality`), which hands the rule a `GapReading`: for
images the BatchNorm shift (`tlcore.image.similarity.read_image_gap`); for texts
(`tlcore.text.measures.read_text_gap`) whether the language is not the encoder's (non-English
share, word pieces per word, unknown pieces), or its embeddings carry the labels poorly (probe
under 90%). This module imports no modality.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .errors import UnknownNameError
from .gain import GainModel, expected_loss
from .progress import duration

PREDICT_MARGIN = 0.01
PROBE_CEILING = 0.97
FAR_SHIFT = 0.15
MIN_PER_CLASS_TO_FINETUNE = 50
FEW_PER_CLASS = 100
# With groups kept whole, a class with fewer groups than this leaves its folds too little to learn from. Set
# on Wesnoth's unit sprites (README, "Groups kept whole"): the probe read 16-31 points under the test score with
# 2-4 units in the smallest class, within 6 points with 5 to 10. Not a guarantee above it: on glyphs@25 (19
# font families a class) the probe read 31 points under, as it reads low there split image by image too.
FEW_GROUPS = 5
MAX_UNFREEZE, MIN_UNFREEZE, FEW_DATA_UNFREEZE = 12, 4, 6
WAYS = ("predict", "extract", "finetune")
EXTRACT_HEADS = ("ridge", "logistic_regression", "rbf_svm", "linear_svm", "knn", "extra_trees", "keras_head")


@dataclass(frozen=True)
class Recommendation:
    strategy: str
    confidence: float  # 0.5 (a coin toss between two options) .. 0.95
    reasons: list[str]
    settings: dict
    expected_accuracy: dict  # strategy -> accuracy, where it can be estimated before training
    aim: str = "best"  # "best" accuracy, or "fast": good and fast
    expected_seconds: dict = field(default_factory=dict)  # strategy -> training seconds, where calibrated
    expected_gain: float | None = None  # points fine-tuning is expected to add over extract, where calibrated
    gain_error: float | None = None  # the typical error of that estimate, in points
    expected_loss: float | None = None  # points the choice is expected to lose against the other way, where calibrated
    # what fine-tuning's expected points and minutes are for (blocks to unfreeze, learning rate), whichever way is
    # advised: a walk's "All three" after an extract advice fine-tuned 12 blocks where the analysis timed 6, and took
    # 1.9x the time it was told (`TrainConfig.from_analysis` reads it where `settings` has none)
    finetune_settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def room(probe: float) -> float:
    """The points a frozen head leaves: no way of training can add more than 100 minus its measured accuracy."""
    return max(100 * (1 - probe), 0.0)


def _confidence(margin: float, scale: float) -> float:
    return round(min(0.95, 0.5 + abs(margin) / scale * 0.45), 2)


def unfreeze_blocks(shift_starts_at: int, n_blocks: int, per_class: float) -> int:
    """Blocks to unfreeze: from where the BatchNorm shift starts, bounded by the data there is."""
    wanted = n_blocks + 1 - shift_starts_at  # block_of numbers the stem 0 and the head n_blocks + 1
    cap = FEW_DATA_UNFREEZE if per_class < FEW_PER_CLASS else MAX_UNFREEZE
    return int(max(MIN_UNFREEZE, min(cap, wanted)))


@dataclass(frozen=True)
class GapReading:
    """What the recommendation needs from one kind of domain gap, whatever it was measured with."""

    far: bool
    text: str  # the measured numbers, in words, for the reasons
    settings: dict  # fine-tuning settings that fit this gap
    settings_reason: str
    asis: str  # what "as it is" means for this kind of base, with {} for its accuracy
    margin: float = 0.0  # how far past the "far" threshold the measures are (for the confidence)
    distance: float = 0.0  # the gap as one number, for the expected gain of fine-tuning (images: BatchNorm shift)


AIMS = {"best": "the best accuracy", "fast": "good and fast"}
DEFAULT_AIM = "fast"
FAST_GAIN_POINTS = 2.0  # "good and fast" fine-tunes only when it is expected to add at least this many points
# Without an estimate of fine-tuning's gain (texts, other bases), "good and fast" fine-tunes where the rule for the
# best accuracy would and it is expected to take at most this many times a head on the frozen base
FAST_TIME_FACTOR = 1.5


def _as_fast(seconds: dict) -> bool:
    """Whether fine-tuning is expected within `FAST_TIME_FACTOR` times a head on the frozen base: as fast, for the aim
    good and fast, as the quicker way (where no estimate of its gain weighs its points against its minutes)."""
    return {"extract", "finetune"} <= set(seconds) and seconds["finetune"] <= FAST_TIME_FACTOR * seconds["extract"]


def points_needed(aim: str, error: float = 0.0, seconds: dict | None = None) -> float:
    """The expected gain, in points, above which fine-tuning is worth it for `aim`: for good and fast, at least
    `FAST_GAIN_POINTS` and more than the estimate's typical `error` (a gain within its error buys nothing sure),
    unless fine-tuning is expected within `FAST_TIME_FACTOR` times a head's time (`seconds`, each way's expected
    wall time): then it costs no more minutes than the aim allows, and any gain is worth it, as for the best
    accuracy. On the image calibration tables, the 30 variants with an expected gain above 0 and at most the typical
    error gained 2.6 points on average by fine-tuning, 24 of them at least level."""
    if aim != "fast" or _as_fast(seconds or {}):
        return 0.0
    return max(FAST_GAIN_POINTS, error)


def _cross_validated(size: dict) -> str:
    """How the probe's accuracy was measured, in words: on whole groups where the data has them."""
    if "groups" not in size:
        return "cross-validated"
    fewest = size["groups_per_class_min"]
    words = f"cross-validated on whole groups: {size['groups']} of them, {fewest} in the smallest class"
    if fewest < FEW_GROUPS:
        words += ("; with so few, each fold learns from a part of a class's groups, and held-out numbers can be far "
                  "off either way")
    return words


def recommend(size: dict, measures, reading: GapReading, as_is_accuracy: float, domain: str,
              settings: dict | None = None, *, gain: GainModel | None = None, aim: str = DEFAULT_AIM,
              seconds: dict[str, float] | None = None, can_finetune: bool = True) -> Recommendation:
    """The strategy, its reasons and settings, from the measured numbers (see the module docstring).

    `reading` is the modality's reading of its domain gap, `as_is_accuracy` the best way to use the
    base with no training, `domain` what the base knows ("ImageNet"), `settings` what every
    recommendation of this dataset carries (the image size). With `gain` (the modality's calibrated
    `tlcore.gain.GainModel`), extract or fine-tune is decided by fine-tuning's expected gain for
    the `aim` ("best" accuracy, or "fast": good and fast); without it, by the far-and-enough-data rule.
    `seconds`: each way's expected wall time on this machine (`tlcore.costs.expected_seconds`); without it,
    the gain model's rates from its calibration machine, where there is one. `can_finetune=False` for a base
    that cannot be fine-tuned (one outside Keras): the advice is then between the other two ways.
    """
    if aim not in AIMS:
        raise UnknownNameError("aim", aim, list(AIMS))
    probe = max(measures.probe_accuracy, measures.loo_accuracy)
    asis = max(measures.asis_accuracy, as_is_accuracy)
    per_class = size["per_class_known_median"]
    expected = {"predict": round(asis, 4), "extract": round(probe, 4)}
    settings = dict(settings or {})
    reasons = [f"As it is, {reading.asis.format(asis)}; a linear head on its features scores {probe:.1%} "
               f"({_cross_validated(size)})."]
    points, loss = None, None
    n_train = int(size.get("splits", {}).get("train", 0))
    where = "on this machine" if seconds is not None else "on a 2-core machine like the one it was calibrated on"
    if seconds is None:
        seconds = {s: round(gain.seconds(s, n_train), 1) for s in WAYS} if gain is not None else {}
    if gain is not None:
        points = min(gain.expected_gain(probe, reading.distance, per_class, n_train), room(probe))
        expected["finetune"] = round(min(1.0, probe + points / 100), 4)
    if asis >= probe - PREDICT_MARGIN:
        strategy = "predict"
        reasons.append(f"Using the base as it is comes within {PREDICT_MARGIN:.0%} of a trained head, "
                       "needs no training and cannot overfit your data.")
        confidence = _confidence(asis - probe + PREDICT_MARGIN, 0.05)
    elif not can_finetune:
        strategy = "extract"
        reasons.append("This base cannot be fine-tuned (it is not a Keras network), so a new head on its features "
                       "is the way to train it.")
        confidence = _confidence(probe - asis, 0.2)
    elif gain is not None:
        strategy, confidence, why, loss = _by_expected_gain(gain, points, seconds, aim, reading, domain,
                                                            (probe, per_class, n_train), where)
        reasons += why
    elif probe < PROBE_CEILING and reading.far and per_class >= MIN_PER_CLASS_TO_FINETUNE:
        why = [f"Your data is far from {domain}: {reading.text}.",
               f"A frozen base leaves room: the probe stays at {probe:.1%}, below {PROBE_CEILING:.0%}."]
        if aim == "fast" and not _as_fast(seconds):
            strategy, confidence = "extract", 0.6
            why.append(f"For {AIMS['fast']}: nothing measured before training says how many points fine-tuning "
                       f"would add here{_extra_time(seconds, where)}, so a new head on the frozen base is advised; "
                       "ask for the best accuracy to fine-tune.")
        elif aim == "fast":
            strategy, confidence = "finetune", 0.6
            why.append(f"For {AIMS['fast']}: nothing measured before training says how many points fine-tuning "
                       f"would add, but it takes at most {FAST_TIME_FACTOR:.1f} times as long as a new head on the "
                       f"frozen base{_extra_time(seconds, where)}, and the run keeps its first head wherever "
                       f"fine-tuning does not beat it on validation: {reading.settings_reason}.")
        else:
            strategy = "finetune"
            why.append(f"With {per_class:.0f} examples per class there is enough to adapt the base: "
                       f"{reading.settings_reason}{_extra_time(seconds, where)}.")
            confidence = _confidence(min(PROBE_CEILING - probe, reading.margin), 0.1)
        reasons += why
    else:
        strategy = "extract"
        if probe >= PROBE_CEILING:
            reasons.append(f"The frozen base's features already separate your classes ({probe:.1%}); "
                           "fine-tuning has little left to gain.")
        elif not reading.far:
            reasons.append(f"Your data is close to {domain} ({reading.text}), so its features fit as they are.")
        else:
            reasons.append(f"With {per_class:.0f} examples per class (fewer than {MIN_PER_CLASS_TO_FINETUNE}), "
                           "fine-tuning would overfit; a new head on frozen features is safer.")
        confidence = _confidence(probe - asis, 0.2)
    if strategy == "finetune":
        settings |= reading.settings
    elif strategy == "extract":
        settings |= {"heads": list(EXTRACT_HEADS)}
    if measures.slope > 0.03:
        reasons.append(f"Accuracy still grows with data (+{measures.slope:.1%} from half to all examples): "
                       "more data would pay off.")
    return Recommendation(strategy, confidence, reasons, settings, expected, aim, seconds,
                          None if points is None else round(points, 2), gain.residual_points if gain else None,
                          loss, dict(reading.settings) if can_finetune else {})


def _by_expected_gain(gain: GainModel, points: float, seconds: dict, aim: str, reading: GapReading, domain: str,
                      measured: tuple[float, float, int], where: str) -> tuple[str, float, list[str], float]:
    """Extract or fine-tune by the expected gain of fine-tuning (already capped by the room), for the aim; with the
    reasons in points and minutes and what the choice is expected to lose against the other way. `measured`: the
    probe, examples per class, training examples (what the gain model may read); `where` the times were measured."""
    probe, per_class, n_train = measured
    error = gain.residual_points
    needed = points_needed(aim, error, seconds)
    strategy = "finetune" if points > needed else "extract"
    left = room(probe)
    # the other way cannot lead by more than the room: where the frozen head leaves none, keeping it loses nothing
    loss = round(min(expected_loss(points, error, strategy), left) if strategy == "extract" else
                 expected_loss(points, error, strategy), 2)
    extra = max(seconds["finetune"] - seconds["extract"], 0.0)
    said = {"room": f"the probe's {probe:.1%}", "distance": f"a distance from {domain} of {reading.distance:.2f}",
            "log_per_class": f"{per_class:.0f} examples per class", "log_train": f"{n_train} training examples"}
    inputs = [said[name] for name in dict.fromkeys("room" if f == "room_x_data" else f for f in gain.weights)]
    if left < 0.05:
        reasons = [f"A head on the frozen base already scores {probe:.1%}: fine-tuning has no points left to add"
                   + (f", and it would take about {duration(extra)} more {where}." if extra >= 1 else
                      ". A run asked to fine-tune stops after that head here, so every way takes about as long.")]
    else:
        capped = points >= left - 1e-9
        reasons = [
            f"Fine-tuning takes about {duration(extra)} more {where} for an expected {points:+.1f} points over a "
            f"head on the frozen base (typical error {error:.1f})"
            + (f", at most the {left:.1f} points the frozen head leaves at {probe:.1%}" if capped else "")
            + (f"; estimated from {_listed(inputs)} ({len(gain.fitted_on)} datasets)" if inputs else "") + ". "
            + loss_sentence(loss),
        ]
    if strategy == "finetune":
        quick = (f", since it takes at most {FAST_TIME_FACTOR:.1f} times as long as a new head on the frozen base"
                 if aim == "fast" and points <= points_needed(aim, error) else "")
        reasons.append(f"That is worth it for {AIMS[aim]}{quick}: {reading.settings_reason}.")
    elif left < 0.05:
        pass
    elif aim == "fast" and points > 0:
        reasons.append(f"For {AIMS['fast']}, {points:.1f} points " + (
            f"are within the estimate's typical error ({error:.1f})" if points <= error else
            f"are fewer than the {FAST_GAIN_POINTS:.0f} points it asks") + f": not worth {duration(extra)} more. "
            "Ask for the best accuracy to fine-tune.")
    else:
        reasons.append("A new head on the frozen base's features is expected to do as well, in less time.")
    # no room left is no close call: fine-tuning cannot add a point, whatever the estimate's error
    confidence = 0.95 if left < 0.05 else min(0.95, gain.sure(points - needed))
    return strategy, round(confidence, 2), reasons, loss


def _extra_time(seconds: dict, where: str) -> str:
    """", and it takes about 4 min more on this machine" where the times are known."""
    if not seconds or "finetune" not in seconds:
        return ""
    return f" (it takes about {duration(max(seconds['finetune'] - seconds['extract'], 0.0))} more {where})"


def loss_sentence(points: float) -> str:
    """What the choice is expected to cost against the other way, in words (see `tlcore.gain.expected_loss`)."""
    return (f"On average, choosing on these numbers loses {points:.1f} points against the better of the two ways "
            "(how likely the other way wins, times by how much).")


def _listed(parts: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
