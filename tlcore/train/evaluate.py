"""Honest numbers: metrics on held-out data, calibration, and the temperature that fixes it.

Every model hands over logits (or log-probabilities); the temperature is fitted on the
validation split only and then applied, unchanged, to the test split.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize_scalar
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


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The T > 0 minimising the negative log-likelihood of softmax(logits / T) on (logits, y)."""
    if len(y) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        return negative_log_likelihood(logits, y, np.exp(log_t))

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x)) if nll(result.x) <= nll(0.0) else 1.0


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
    largest_class: str = ""  # the training split's largest class
    largest_class_accuracy: float = float("nan")  # always answering it, on the same split
    margin_needed: float = 0.0  # the smallest lead over it that this split can tell from luck
    beats_largest_class: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate(
    logits: np.ndarray, y: np.ndarray, classes: tuple[str, ...], temperature: float, files: list[str],
    y_train: np.ndarray | None = None,
) -> Evaluation:
    """All metrics of `logits` against labels `y`; `files` name the inputs, for the list of mistakes.

    With `y_train`, also what always answering the training split's largest class scores on `y`,
    and whether the model beats it by more than `y`'s size can resolve.
    """
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
        largest_class=classes[largest],
        largest_class_accuracy=baseline,
        margin_needed=margin,
        beats_largest_class=bool(score - baseline > margin),
    )
