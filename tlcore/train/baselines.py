"""scikit-learn baselines on the cached features: the bar every Keras head has to clear.

Each is a Pipeline with scaling whose hyperparameters are chosen by stratified cross-validation
on the training split only. Registered by name; an unknown name lists the valid ones.
"""

from __future__ import annotations

import pickle
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.model_selection import ParameterGrid
from sklearn.multiclass import OneVsRestClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.svm import SVC, LinearSVC

from ..errors import UnknownNameError
from ..folds import folds
from ..progress import report
from ..words import model_title, percent
from .candidate import Candidate, Context, per_sample_ms

EPS = 1e-9
# Baselines in a row that do not become the run's best before the rest are skipped (with stop_early). The
# order of BASELINES puts the quickest first (ridge: the first model), then the ones that won on the shared sets
# (logistic regression, the RBF SVM, the linear SVM); k-nearest neighbours and extra trees, the slowest on many
# features, come last.
STALE_BASELINES = 2


@dataclass(frozen=True)
class Baseline:
    name: str
    make: Callable[[int], Pipeline]  # seed -> unfitted pipeline
    grid: dict[str, list]
    scores: str  # "proba" (log-probabilities become logits) or "decision" (margins are logits)
    complexity: int = 2


BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        # First: a ridge classifier on one-hot targets is one linear solve per setting, so the run has a model seconds
        # after the features even on thousands of items (logistic regression took 70 s on eurosat200's 1,400).
        Baseline("ridge", lambda seed: Pipeline([("scale", StandardScaler()), ("clf", RidgeClassifier())]),
                 {"clf__alpha": [10.0, 100.0, 1000.0]}, "decision"),
        Baseline("logistic_regression",
                 lambda seed: Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=3000))]),
                 {"clf__C": [0.003, 0.03, 0.3]}, "proba"),
        # One-vs-rest rather than SVC's own one-vs-one votes: per-class margins have an exact Keras form
        # (train/as_keras.py). On sentence embeddings it beats the linear models by 1-3 points (README).
        Baseline("rbf_svm",
                 lambda seed: Pipeline([("scale", StandardScaler()), ("clf", OneVsRestClassifier(SVC(kernel="rbf")))]),
                 {"clf__estimator__C": [1.0, 3.0, 10.0]}, "decision", 3),
        Baseline("linear_svm",
                 lambda seed: Pipeline([("scale", StandardScaler()), ("clf", LinearSVC(max_iter=5000))]),
                 {"clf__C": [0.0003, 0.003, 0.03]}, "decision"),
        Baseline("knn",
                 lambda seed: Pipeline([("scale", Normalizer()), ("clf", KNeighborsClassifier(weights="distance"))]),
                 {"clf__n_neighbors": [3, 7, 15]}, "proba", 3),
        Baseline("extra_trees",
                 lambda seed: Pipeline([("scale", StandardScaler()),
                                        ("clf", ExtraTreesClassifier(n_estimators=300, random_state=seed, n_jobs=2))]),
                 {"clf__max_features": ["sqrt", 0.05]}, "proba", 4),
    )
}  # fmt: skip


def get_baseline(name: str) -> Baseline:
    try:
        return BASELINES[name]
    except KeyError:
        raise UnknownNameError("baseline", name, list(BASELINES)) from None


def logits_of(baseline: Baseline, estimator: Pipeline, x: np.ndarray, n_classes: int) -> np.ndarray:
    """Scores as logits over all classes (a class missing from training gets a very low score)."""
    raw = estimator.predict_proba(x) if baseline.scores == "proba" else estimator.decision_function(x)
    if baseline.scores == "proba":
        raw = np.log(raw + EPS)
    if raw.ndim == 1:  # binary decision_function: one margin for class 1
        raw = np.stack([-raw / 2, raw / 2], axis=1)
    full = np.full((len(x), n_classes), np.log(EPS), dtype=np.float64)
    full[:, estimator.classes_] = raw
    return full


@dataclass(frozen=True, eq=False)
class Searched:
    """A baseline's grid searched on the training folds: the best setting refitted on all the training items,
    its cross-validated accuracy, and the logits of every training item from that setting's fold models (what
    the temperature is fitted on, with the validation split: held-out predictions of the whole training split)."""

    estimator: Pipeline
    params: dict
    cv_accuracy: float
    oof_logits: np.ndarray


class OutOfTime(Exception):
    """The next fit of a baseline would end after the run's deadline."""


def search_grid(baseline: Baseline, x: np.ndarray, y: np.ndarray, splits: list, n_classes: int, seed: int,
                deadline: float | None = None) -> Searched:
    """Every setting of the grid on every fold, then the best refitted on all items; one fit at a time, so a
    `deadline` (`time.monotonic()`) is checked between fits: `OutOfTime` when the next fit, as long as the
    longest so far (the refit as half as long again: it sees the held-out third too), would end after it.

    GridSearchCV in steps we can stop: a baseline that starts near the end of the budget costs the run one fit,
    not a whole grid (logistic regression's took 70 s on eurosat200's 1,400 items under load)."""
    longest = 0.0

    def fit(params: dict, rows: np.ndarray | slice, scale: float = 1.0) -> Pipeline:
        nonlocal longest
        if deadline is not None and time.monotonic() + scale * longest > deadline:
            raise OutOfTime(baseline.name)
        started = time.monotonic()
        model = clone(baseline.make(seed)).set_params(**params).fit(x[rows], y[rows])
        longest = max(longest, time.monotonic() - started)
        return model

    best: tuple[float, dict, np.ndarray] | None = None
    for params in ParameterGrid(_grid(baseline, splits)):
        oof, right = np.zeros((len(y), n_classes)), 0
        for rows, held in splits:
            model = fit(params, rows)
            oof[held] = logits_of(baseline, model, x[held], n_classes)
            right += int((model.predict(x[held]) == y[held]).sum())
        accuracy = right / sum(len(held) for _, held in splits)
        if best is None or accuracy > best[0]:  # the first of equals, as GridSearchCV ranks them
            best = (accuracy, params, oof)
    accuracy, params, oof = best
    return Searched(fit(params, slice(None), 1.5), params, accuracy, oof)


def _grid(baseline: Baseline, splits: list) -> dict[str, list]:
    """The baseline's grid for these folds: no more neighbours than the smallest fold fits on."""
    grid = dict(baseline.grid)
    if "clf__n_neighbors" in grid:
        fits = min(len(fit) for fit, _ in splits)
        grid["clf__n_neighbors"] = [k for k in grid["clf__n_neighbors"] if k <= fits] or [max(1, fits)]
    return grid


def first_head(ctx: Context) -> list[Candidate]:
    """The run's first model where it trains no other head on the cached features (fine-tuning alone): the
    first baseline, fitted in seconds even when the budget is spent, so every run has a model early. None where
    the run was asked for no baselines at all (`TrainConfig.baselines=()`)."""
    return run(ctx, ctx.config.baselines[:1]) if ctx.config.baselines else []


def run(ctx: Context, names: tuple[str, ...] | None = None) -> list[Candidate]:
    """Each baseline of `names` (default the run's) in turn, offered to the run as it is fitted, until the time is
    up, the best so far is at what validation can resolve, or two in a row did not become the best so far; the
    first is fitted whatever the time."""
    x, y = ctx.features["train"].features, ctx.labels["train"]
    splits = folds(y, 3, ctx.config.seed, ctx.groups("train"))
    candidates = []
    names = [get_baseline(n).name for n in (ctx.config.baselines if names is None else names)]
    for done, name in enumerate(names):
        rest = f"the baselines {', '.join(names[done:])}"
        if done and (ctx.seconds_left() <= 0 or ctx.stop_before(rest) or ctx.stale(STALE_BASELINES, rest)):
            break
        baseline = BASELINES[name]
        report(ctx.progress, "baselines", done, len(names), f"fitting: {model_title('extract', name)}")
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)  # "least populated class has only N members"
            try:
                search = search_grid(baseline, x, y, splits, ctx.n_classes, ctx.config.seed,
                                     deadline=ctx.deadline if done else None)  # the first whatever the time
            except OutOfTime:
                report(ctx.progress, "baselines", done, len(names), f"{name} left out: it would not end in time")
                break
        estimator = search.estimator
        seconds = time.perf_counter() - start
        candidates.append(Candidate(
            strategy="extract",
            name=name,
            val_logits=logits_of(baseline, estimator, ctx.features["val"].features, ctx.n_classes),
            test_logits=logits_of(baseline, estimator, ctx.features["test"].features, ctx.n_classes),
            train_seconds=seconds,
            size_bytes=ctx.base_size_bytes + len(pickle.dumps(estimator)),  # our own object, never loaded back
            latency_ms=ctx.base_latency_ms + per_sample_ms(estimator.predict, ctx.features["val"].features),
            params={k.split("__")[-1]: v for k, v in search.params.items()} | {"cv_accuracy": search.cv_accuracy},
            model=estimator,
            complexity=baseline.complexity,
            oof_logits=search.oof_logits,
        ))  # fmt: skip
        ctx.offer(candidates[-1])  # the run has a model from the first baseline on
        said = f"{model_title('extract', name)}: {percent(search.cv_accuracy)} right in cross-validation on training"
        report(ctx.progress, "baselines", done + 1, len(names), said,
               {"cv_accuracy": float(search.cv_accuracy)})
    return candidates
