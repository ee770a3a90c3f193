"""Which labels are probably wrong: confident learning (cleanlab) on out-of-fold probabilities of a linear probe.

Every item's class probabilities come from a logistic regression on the frozen base's features
that never saw the item (stratified k-fold over the whole dataset: an audit, not a model to
keep). cleanlab's `find_label_issues` then flags the items whose given label the probe confidently
contradicts (pruned by the estimated noise rates and by per-class confidence thresholds), and ranks
them by self-confidence (the probability of the given label: the lower, the likelier the mistake).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

MAX_FOLDS = 5
MAX_ISSUES = 1000
# Chosen on benchmarks/bench_label_issues.py's two tuning sets (eurosat200, sms_spam with 5% flipped) among
# C in {0.003, 0.01, 0.1} and cleanlab's filters; the benchmark measures them on two sets they were not chosen on.
PROBE_C = 0.003  # strong regularisation: a probe that fits the flipped labels would vouch for them
FILTER = "both"  # cleanlab: flagged by the noise-rate pruning and by the per-class thresholds


def out_of_fold_probabilities(features: np.ndarray, labels: np.ndarray, n_classes: int, seed: int = 0,
                              folds: int = MAX_FOLDS) -> np.ndarray:
    """N x C probabilities, each row from a probe fitted without that item."""
    probs = np.zeros((len(labels), n_classes))
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for fit, held in splitter.split(features, labels):
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=PROBE_C, max_iter=2000))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            probe.fit(features[fit], labels[fit])
        probs[np.ix_(held, probe.classes_)] = probe.predict_proba(features[held])
    return probs


def find_label_issues(features: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], items: list[str],
                      seed: int = 0) -> list[dict]:
    """[{"file", "given", "suggested", "score"}], likeliest mistake first; `score` is 1 - P(given label).

    `items` name the records as the user knows them (an image's path, a text itself).
    """
    from cleanlab.filter import find_label_issues as confident_learning

    counts = np.bincount(labels, minlength=len(classes))
    folds = int(min(MAX_FOLDS, counts[counts > 0].min())) if len(labels) else 0
    if folds < 2 or (counts > 0).sum() < 2:
        return []  # too few items per class to hold any out
    probs = out_of_fold_probabilities(features, labels, len(classes), seed, folds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab warns about classes with few examples
        ranked = confident_learning(labels, probs, filter_by=FILTER, return_indices_ranked_by="self_confidence",
                                    n_jobs=1)  # no child processes: jobs run in daemonic worker processes
    return [{"file": items[i], "given": classes[labels[i]], "suggested": classes[int(np.argmax(probs[i]))],
             "score": round(float(1.0 - probs[i, labels[i]]), 4)} for i in ranked[:MAX_ISSUES]]
