"""Honest numbers: metrics on held-out data, calibration, and the temperature that fixes it.

Every model hands over logits (or log-probabilities); the temperature is fitted on the
validation split only and then applied, unchanged, to the test split.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

ECE_BINS = 15
TOP_K = 5


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == y)) if len(y) else float("nan")


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |confidence - accuracy| over equal-width confidence bins, weighted by bin size."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            total += in_bin.mean() * abs(confidence[in_bin].mean() - correct[in_bin].mean())
    return float(total)


def negative_log_likelihood(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean -log softmax(logits / temperature)[y]: the loss that calibration and tie-breaks compare."""
    return -float(np.mean(log_softmax(logits / temperature, axis=1)[np.arange(len(y)), y]))


TEMPERATURE_BOUNDS = (1e-3, 1e3)  # wide: a strongly regularised model may need T well under 0.1
BOUND_MARGIN = 1.25  # a fit within this factor of a bound counts as at the bound


def fit_temperature(logits: np.ndarray, y: np.ndarray, bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    """The T within `bounds` minimising the negative log-likelihood of softmax(logits / T) on (logits, y)."""
    if len(y) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        return negative_log_likelihood(logits, y, np.exp(log_t))

    low, high = bounds
    result = minimize_scalar(nll, bounds=(np.log(low), np.log(high)), method="bounded")
    return float(np.exp(result.x)) if nll(result.x) <= nll(0.0) else 1.0


@dataclass(frozen=True)
class Calibration:
    """The temperature a model's confidence is divided by, with what it was fitted on, in words."""

    temperature: float
    items: int  # how many predictions it was fitted on
    fitted_on: str  # "out-of-fold predictions of the training split and the validation split"
    note: str = ""  # why it was not fitted, or that it sits at a bound


def calibrate(logits: np.ndarray, y: np.ndarray, fitted_on: str) -> Calibration:
    """A temperature fitted on (logits, y), where the data can support one.

    Predictions with no mistake at all reward sharpening without end: the likelihood fit runs to
    its bound and every later answer reads 99-100%, mistakes included. With no mistake among n
    predictions the temperature is instead set so that their mean confidence is (n + 1) / (n + 2),
    Laplace's estimate of an accuracy seen to be perfect n times, and the note says so. A fit that
    still ends at a bound keeps the model's own confidence (T = 1), with a note.
    """
    if len(y) == 0:
        return Calibration(1.0, 0, fitted_on, "no data to fit a temperature on; the model's own confidence is kept")
    low, high = TEMPERATURE_BOUNDS
    if not np.any(np.argmax(logits, axis=1) != y):
        target = (len(y) + 1) / (len(y) + 2)
        temperature = temperature_for_confidence(logits, target)
        return Calibration(temperature, len(y), fitted_on,
                           f"no mistake among these {len(y)} predictions, so nothing says how sure it should be; the "
                           f"confidence is set so their mean is {target:.1%}, as if one more answer could be wrong "
                           "((n + 1) / (n + 2))")
    temperature = fit_temperature(logits, y)
    if temperature <= low * BOUND_MARGIN or temperature >= high / BOUND_MARGIN:
        return Calibration(1.0, len(y), fitted_on, f"not fitted: the fit ran to its bound ({temperature:.3g}); the "
                                                   "model's own confidence is kept (temperature 1)")
    return Calibration(temperature, len(y), fitted_on)


_FITTED = re.compile(r"\d+ predictions: ")  # how `evaluate` writes where a fitted temperature came from


def temperature_sentence(fitted_on: str, note: str = "") -> str:
    """Where the temperature came from, in one or two sentences: what it was fitted on, or why none was fitted.

    Takes an evaluation's `temperature_fitted_on` and `temperature_note`. A temperature fitted on
    nothing (a label map's probabilities are used as they are; no data) is said to be not fitted.
    """
    if _FITTED.match(fitted_on) and note.startswith("not fitted: "):
        return f"A temperature was tried on {fitted_on}, but {_sentence(note.removeprefix('not fitted: '), False)}"
    if _FITTED.match(fitted_on):
        return f"The temperature was fitted on {fitted_on}." + (f" {_sentence(note)}" if note else "")
    why = note or fitted_on.removeprefix("not scaled: ")
    return f"No temperature was fitted: {why.rstrip('.')}." if why else "No temperature was fitted."


def _sentence(text: str, capital: bool = True) -> str:
    text = text.strip().rstrip(".")
    return (text[:1].upper() if capital else text[:1]) + text[1:] + "." if text else ""


def temperature_for_confidence(logits: np.ndarray, target: float) -> float:
    """The temperature at which the mean top probability of softmax(logits / T) is `target` (within the bounds)."""
    low, high = TEMPERATURE_BOUNDS

    def gap(log_t: float) -> float:
        return float(softmax(logits / np.exp(log_t), axis=1).max(axis=1).mean()) - target

    if gap(np.log(low)) < 0:  # even the sharpest allowed is less sure than the target
        return low
    if gap(np.log(high)) > 0:
        return high
    return float(np.exp(brentq(gap, np.log(low), np.log(high), xtol=1e-6)))


def bootstrap_interval(values: np.ndarray, y: np.ndarray, statistic, draws: int = 1000, seed: int = 0
                       ) -> tuple[float, float]:
    """A 95% bootstrap interval of `statistic(values, y)` over resamples of the items."""
    if len(y) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    samples = [statistic(values[idx], y[idx]) for idx in rng.integers(0, len(y), (draws, len(y)))]
    return float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))


def reliability(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per confidence bin: mean confidence, accuracy and count (the reliability diagram's points)."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for low, high in itertools.pairwise(edges):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            rows.append({"confidence": float(confidence[in_bin].mean()), "accuracy": float(correct[in_bin].mean()),
                         "count": int(in_bin.sum())})
    return rows


def largest_class_accuracy(y_train: np.ndarray, y: np.ndarray) -> tuple[int, float]:
    """The training split's largest class, and what always answering it scores on labels `y`.

    Every score is shown beside this one: a model that does not clearly beat it has learned little.
    """
    largest = int(np.argmax(np.bincount(y_train)))
    return largest, float(np.mean(y == largest)) if len(y) else float("nan")


def resolvable_margin(accuracy: float, n: int) -> float:
    """Two standard errors of an accuracy measured on `n` items (Agresti-Coull, honest near 0 and 1).

    A difference smaller than this on a split of this size may be luck of the draw.
    """
    adjusted = (accuracy * n + 2) / (n + 4)
    return float(2 * np.sqrt(adjusted * (1 - adjusted) / max(n, 1)))


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one model on one split (the test split, for reports)."""

    accuracy: float
    macro_f1: float
    per_class: list[dict]
    confusion: list[list[int]]
    top_k: dict[str, float]
    ece_before: float
    ece_after: float
    temperature: float
    reliability_before: list[dict]
    reliability_after: list[dict]
    misclassified: list[dict]
    ece_before_interval: tuple[float, float] = (float("nan"), float("nan"))  # 95% bootstrap over test items
    ece_after_interval: tuple[float, float] = (float("nan"), float("nan"))
    temperature_fitted_on: str = ""  # on how many predictions of which split(s)
    temperature_note: str = ""  # why it was not fitted, where it was not
    largest_class: str = ""  # the training split's largest class
    largest_class_accuracy: float = float("nan")  # always answering it, on the same split
    margin_needed: float = 0.0  # the smallest lead over it that this split can tell from luck
    beats_largest_class: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate(
    logits: np.ndarray, y: np.ndarray, classes: tuple[str, ...], temperature: float | Calibration, files: list[str],
    y_train: np.ndarray | None = None,
) -> Evaluation:
    """All metrics of `logits` against labels `y`; `files` name the inputs, for the list of mistakes.

    With `y_train`, also what always answering the training split's largest class scores on `y`,
    and whether the model beats it by more than `y`'s size can resolve.
    """
    calibration = temperature if isinstance(temperature, Calibration) else Calibration(temperature, 0, "")
    temperature = calibration.temperature
    labels = np.arange(len(classes))
    predicted = np.argmax(logits, axis=1)
    before, after = softmax(logits, axis=1), softmax(logits / temperature, axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=labels, zero_division=0)
    per_class = [
        {"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
    ]
    top_k = {}
    if len(classes) > TOP_K:
        top = np.argsort(-logits, axis=1)[:, :TOP_K]
        top_k[f"top_{TOP_K}_accuracy"] = float(np.mean([label in row for label, row in zip(y, top, strict=True)]))
    wrong = np.flatnonzero(predicted != y)
    wrong = wrong[np.argsort(-after[wrong, predicted[wrong]], kind="stable")]
    misclassified = [
        {"file": files[i], "true": classes[y[i]], "predicted": classes[predicted[i]],
         "confidence": float(after[i, predicted[i]])}
        for i in wrong
    ]  # fmt: skip
    score = accuracy(logits, y)
    largest, baseline = largest_class_accuracy(y_train if y_train is not None else y, y)
    margin = resolvable_margin(score, len(y))
    return Evaluation(
        accuracy=score,
        macro_f1=float(f1_score(y, predicted, labels=labels, average="macro", zero_division=0)),
        per_class=per_class,
        confusion=confusion_matrix(y, predicted, labels=labels).tolist(),
        top_k=top_k,
        ece_before=expected_calibration_error(before, y),
        ece_after=expected_calibration_error(after, y),
        temperature=temperature,
        reliability_before=reliability(before, y),
        reliability_after=reliability(after, y),
        misclassified=misclassified,
        ece_before_interval=bootstrap_interval(before, y, expected_calibration_error),
        ece_after_interval=bootstrap_interval(after, y, expected_calibration_error),
        temperature_fitted_on=(f"{calibration.items} predictions: {calibration.fitted_on}" if calibration.items
                               else calibration.fitted_on),
        temperature_note=calibration.note,
        largest_class=classes[largest],
        largest_class_accuracy=baseline,
        margin_needed=margin,
        beats_largest_class=bool(score - baseline > margin),
    )
