"""Which way of reusing the base fits the data, with the numbers that say why.

The folk rule (small and similar: extract; large and different: fine-tune) is where this starts.
The decision rests on calibrated quantities, measured on the training and validation images:

1. **predict** when using the base as it is is expected to do as well as a trained head:
   its expected accuracy (the name map's accuracy where the class names are ImageNet classes,
   else the empirical label map's cross-validated accuracy) is within 1 point of the best
   linear probe's. No training, nothing to overfit.
2. **finetune** when a frozen base leaves a lot on the table and there is data to adapt it:
   the probe stays below 97%, the data is far from ImageNet (mean BatchNorm shift >= 0.15, where
   ImageNet-like photos measure below 0.1), and there are at least 50 images per class.
   The blocks to unfreeze follow the shift profile: from the first block whose shift reaches
   half of the largest, at most 12 (the whole base at once was measured to collapse), at least 4,
   and at most 6 with fewer than 100 images per class.
3. **extract** otherwise: a new head on the frozen base's cached features.

For every kind of data the rule is the same; only "far" is read differently, by the data's modality
(`tlcore.modality`), which hands the rule a `GapReading`: for images the BatchNorm shift
(`tlcore.image.similarity.read_image_gap`); for texts (`tlcore.text.measures.read_text_gap`) whether
the language is not the encoder's (non-English share, word pieces per word, unknown pieces), or its
embeddings carry the labels poorly (probe under 90%). This module imports no modality.

Calibration (EfficientNet-Lite0; see the README's table): hymenoptera's BatchNorm shift is 0.07
and its name map matches the probe (predict); EuroSAT's shift is 0.23 and MNIST's 0.54 with
probes near 91% (finetune); the drawn shapes sample is far (0.54) but its probe is already at
99-100% (extract).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

PREDICT_MARGIN = 0.01
PROBE_CEILING = 0.97
FAR_SHIFT = 0.15
MIN_PER_CLASS_TO_FINETUNE = 50
FEW_PER_CLASS = 100
MAX_UNFREEZE, MIN_UNFREEZE, FEW_DATA_UNFREEZE = 12, 4, 6


@dataclass(frozen=True)
class Recommendation:
    strategy: str
    confidence: float  # 0.5 (a coin toss between two options) .. 0.95
    reasons: list[str]
    settings: dict
    expected_accuracy: dict  # strategy -> accuracy, where it can be estimated before training

    def to_dict(self) -> dict:
        return asdict(self)


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


def recommend(size: dict, measures, reading: GapReading, as_is_accuracy: float, domain: str,
              settings: dict | None = None) -> Recommendation:
    """The strategy, its reasons and settings, from the measured numbers (see the module docstring).

    `reading` is the modality's reading of its domain gap, `as_is_accuracy` the best way to use the
    base with no training, `domain` what the base knows ("ImageNet"), `settings` what every
    recommendation of this dataset carries (the image size).
    """
    probe = max(measures.probe_accuracy, measures.loo_accuracy)
    asis = max(measures.asis_accuracy, as_is_accuracy)
    per_class = size["per_class_known_median"]
    expected = {"predict": round(asis, 4), "extract": round(probe, 4)}
    settings = dict(settings or {})
    reasons = [f"As it is, {reading.asis.format(asis)}; a linear head on its features scores {probe:.1%} "
               "(cross-validated)."]
    if asis >= probe - PREDICT_MARGIN:
        strategy = "predict"
        reasons.append(f"Using the base as it is comes within {PREDICT_MARGIN:.0%} of a trained head, "
                       "needs no training and cannot overfit your data.")
        confidence = _confidence(asis - probe + PREDICT_MARGIN, 0.05)
    elif probe < PROBE_CEILING and reading.far and per_class >= MIN_PER_CLASS_TO_FINETUNE:
        strategy = "finetune"
        settings |= reading.settings
        reasons += [
            f"Your data is far from {domain}: {reading.text}.",
            f"A frozen base leaves room: the probe stays at {probe:.1%}, below {PROBE_CEILING:.0%}.",
            f"With {per_class:.0f} examples per class there is enough to adapt the base: {reading.settings_reason}.",
        ]
        confidence = _confidence(min(PROBE_CEILING - probe, reading.margin), 0.1)
    else:
        strategy = "extract"
        settings |= {"heads": ["logistic_regression", "rbf_svm", "linear_svm", "knn", "extra_trees",
                                "keras_head"]}
        if probe >= PROBE_CEILING:
            reasons.append(f"The frozen base's features already separate your classes ({probe:.1%}); "
                           "fine-tuning has little left to gain.")
        elif not reading.far:
            reasons.append(f"Your data is close to {domain} ({reading.text}), so its features fit as they are.")
        else:
            reasons.append(f"With {per_class:.0f} examples per class (fewer than {MIN_PER_CLASS_TO_FINETUNE}), "
                           "fine-tuning would overfit; a new head on frozen features is safer.")
        confidence = _confidence(probe - asis, 0.2)
    if measures.slope > 0.03:
        reasons.append(f"Accuracy still grows with data (+{measures.slope:.1%} from half to all examples): "
                       "more data would pay off.")
    return Recommendation(strategy, confidence, reasons, settings, expected)
