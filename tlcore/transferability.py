"""How well the base's features will serve the user's labels, measured before any training.

All from one matrix of features (and the ImageNet probabilities) of the training images:
- LogME (You et al. 2021): the log marginal evidence of a Bayesian linear model on the features,
  per image, averaged over classes. Implemented with the full evidence: log|A| of the D x D
  matrix A = alpha I + beta F'F includes (D - k) log(alpha) for the D - k zero singular values,
  a term the reference code drops when there are fewer images than feature dimensions.
- LEEP (Nguyen et al. 2020) and the cross-validated accuracy of its empirical predictor, which
  is what "predict as-is" will score.
- The leave-one-out accuracy of a ridge probe, in closed form from the same SVD, a 5-fold
  logistic-regression accuracy, and the probe's gain from half of the data to all of it.
Raw LogME and LEEP values are not comparable across datasets; the accuracies are.

With `groups` (items that belong together, `tlcore.data.splits`), every held-out measure holds out
whole groups: folds never split a group (`tlcore.folds`), "leave one out" leaves out a group, and the half the
slope starts from is half of each class's groups. Without them, the measures are the same as
before groups existed, to the digit.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import softmax
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .folds import folds, group_ids

EPS = 1e-12


def _svd(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thin SVD of the features: U (N x k) and the non-zero eigenvalues sigma = s^2 of F'F."""
    u, s, _ = np.linalg.svd(features.astype(np.float64), full_matrices=False)
    keep = s > s.max() * 1e-10 if len(s) else s > 0
    return u[:, keep], s[keep] ** 2


def evidence(y: np.ndarray, u: np.ndarray, sigma: np.ndarray, dim: int, alpha: float, beta: float) -> float:
    """log p(y | F, alpha, beta) / N for the Bayesian linear model y = F w + noise, w ~ N(0, I/alpha)."""
    n = len(y)
    z = u.T @ y
    shrink = beta * sigma / (alpha + beta * sigma)
    residual = float(y @ y - z @ z + np.sum((z * (1 - shrink)) ** 2))
    m_norm = float(np.sum(beta**2 * sigma * z**2 / (alpha + beta * sigma) ** 2))
    log_det = float(np.sum(np.log(alpha + beta * sigma)) + (dim - len(sigma)) * np.log(alpha))
    total = (dim / 2 * np.log(alpha) + n / 2 * np.log(beta) - log_det / 2
             - beta / 2 * residual - alpha / 2 * m_norm - n / 2 * np.log(2 * np.pi))  # fmt: skip
    return total / n


def fit_evidence(y: np.ndarray, u: np.ndarray, sigma: np.ndarray, iterations: int = 100) -> tuple[float, float]:
    """MacKay's fixed-point updates of (alpha, beta) that maximise the evidence."""
    alpha, beta = 1.0, 1.0
    z = u.T @ y
    n = len(y)
    for _ in range(iterations):
        gamma = float(np.sum(beta * sigma / (alpha + beta * sigma)))
        m_norm = float(np.sum(beta**2 * sigma * z**2 / (alpha + beta * sigma) ** 2))
        residual = float(y @ y - z @ z + np.sum((z * alpha / (alpha + beta * sigma)) ** 2))
        new_alpha = gamma / max(m_norm, EPS)
        new_beta = (n - gamma) / max(residual, EPS)
        converged = abs(new_alpha / new_beta - alpha / beta) <= 1e-4 * (alpha / beta)
        alpha, beta = new_alpha, new_beta
        if converged:
            break
    return alpha, beta


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME of `features` for integer `labels`: the mean per-image evidence over one-vs-rest targets."""
    u, sigma = _svd(features)
    dim = features.shape[1]
    scores = []
    for cls in np.unique(labels):
        y = (labels == cls).astype(np.float64)
        alpha, beta = fit_evidence(y, u, sigma)
        scores.append(evidence(y, u, sigma, dim, alpha, beta))
    return float(np.mean(scores))


def empirical_predictor(source_probs: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """P(user class | ImageNet class), 1000 x C, from the joint over (`source_probs`, `labels`)."""
    joint = source_probs.T.astype(np.float64) @ np.eye(n_classes)[labels]
    marginal = joint.sum(axis=1, keepdims=True)
    return np.where(marginal > 0, joint / np.maximum(marginal, EPS), 1.0 / n_classes)


def leep(source_probs: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """Mean log-likelihood of the labels under the empirical predictor built on the same images."""
    predicted = source_probs @ empirical_predictor(source_probs, labels, n_classes)
    return float(np.mean(np.log(predicted[np.arange(len(labels)), labels] + EPS)))


def asis_accuracy(source_probs: np.ndarray, labels: np.ndarray, n_classes: int, seed: int = 0,
                  groups: np.ndarray | None = None) -> float:
    """Cross-validated accuracy of the empirical predictor: the "predict as-is" strategy's expected accuracy."""
    correct = 0
    for fit, score in folds(labels, 5, seed, groups):
        table = empirical_predictor(source_probs[fit], labels[fit], n_classes)
        correct += int(np.sum(np.argmax(source_probs[score] @ table, axis=1) == labels[score]))
    return correct / len(labels)


def loo_ridge_accuracy(features: np.ndarray, labels: np.ndarray, groups: np.ndarray | None = None) -> float:
    """Leave-one-out accuracy of a one-vs-rest ridge probe, exact and in closed form.

    With the SVD of the centred features, the hat matrix is H = U diag(sigma / (sigma + t)) U', and
    each left-out prediction is (y_hat - h_ii y) / (1 - h_ii). The ridge strength t is the best of
    a few multiples of the mean eigenvalue, itself chosen by the same leave-one-out accuracy. With
    `groups` a group G is left out at once: y_G - (I - H_GG)^-1 (y_G - y_hat_G).
    """
    x = features.astype(np.float64)
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
    targets = np.eye(labels.max() + 1)[labels]
    u, sigma = _svd(x)
    z = u.T @ (targets - targets.mean(axis=0))
    best = 0.0
    for t in sigma.mean() * np.array([1e-3, 1e-2, 1e-1, 1.0, 10.0]):
        weights = sigma / (sigma + t)
        # The unpenalised intercept adds 1/N to every leverage and the target mean to every fit.
        fitted = targets.mean(axis=0) + u @ (weights[:, None] * z)
        if groups is None:
            leverage = np.einsum("ij,j,ij->i", u, weights, u) + 1.0 / len(labels)
            left_out = targets - (targets - fitted) / (1 - leverage[:, None] + EPS)
        else:
            left_out = _left_out_by_group(targets, fitted, u, weights, groups)
        best = max(best, float(np.mean(np.argmax(left_out, axis=1) == labels)))
    return best


def _left_out_by_group(targets, fitted, u, weights, groups) -> np.ndarray:
    left_out = np.empty_like(fitted)
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        hat = (u[rows] * weights) @ u[rows].T + 1.0 / len(targets)
        left_out[rows] = targets[rows] - np.linalg.solve(np.eye(len(rows)) - hat + EPS * np.eye(len(rows)),
                                                         targets[rows] - fitted[rows])
    return left_out


def probe_accuracy(features: np.ndarray, labels: np.ndarray, seed: int = 0, groups: np.ndarray | None = None) -> float:
    """5-fold cross-validated accuracy of a standardised logistic regression."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.03, max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(np.mean(cross_val_score(model, features, labels, cv=folds(labels, 5, seed, groups))))


def learning_slope(features: np.ndarray, labels: np.ndarray, seed: int = 0, groups: np.ndarray | None = None) -> float:
    """Leave-one-out probe accuracy on all the images minus on a stratified half: points gained per doubling."""
    counts = np.bincount(labels)
    if counts.min() < 4:
        return 0.0
    if groups is None:
        half, _ = train_test_split(np.arange(len(labels)), train_size=0.5, stratify=labels, random_state=seed)
    else:
        half = _half_of_groups(labels, groups, seed)
        if len(np.unique(labels[half])) < len(counts):
            return 0.0  # a class with one group has no half to learn from
    return (loo_ridge_accuracy(features, labels, groups)
            - loo_ridge_accuracy(features[half], labels[half], None if groups is None else groups[half]))


def _half_of_groups(labels: np.ndarray, groups: np.ndarray, seed: int) -> np.ndarray:
    """Whole groups of each class, in a seeded order, until they hold half of the class's items."""
    rng, half = np.random.default_rng(seed), []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        taken = 0
        for group in rng.permutation(np.unique(groups[rows])):
            if taken >= len(rows) / 2:
                break
            members = rows[groups[rows] == group]
            half.extend(members)
            taken += len(members)
    return np.sort(np.asarray(half, dtype=np.int64))


@dataclass(frozen=True)
class Transferability:
    logme: float
    leep: float
    asis_accuracy: float
    probe_accuracy: float
    loo_accuracy: float
    slope: float

    def to_dict(self) -> dict:
        return asdict(self)


def measure(features: np.ndarray, imagenet_logits: np.ndarray, labels: np.ndarray, seed: int = 0,
            groups=None) -> Transferability:
    """Every measure above, on the training images' features, ImageNet logits, labels and groups (if any)."""
    n_classes = int(labels.max()) + 1
    probs = softmax(imagenet_logits.astype(np.float64), axis=1)
    ids = group_ids(groups)
    return Transferability(
        logme=logme(features, labels),
        leep=leep(probs, labels, n_classes),
        asis_accuracy=asis_accuracy(probs, labels, n_classes, seed, ids),
        probe_accuracy=probe_accuracy(features, labels, seed, ids),
        loo_accuracy=loo_ridge_accuracy(features, labels, ids),
        slope=learning_slope(features, labels, seed, ids),
    )
