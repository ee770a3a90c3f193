"""The baselines' grid search in steps: the same choice as scikit-learn's GridSearchCV, and a deadline that
stops a baseline between fits instead of after its whole grid."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from tlcore.folds import folds
from tlcore.train.baselines import BASELINES, OutOfTime, search_grid


def _blobs(seed: int = 0, per_class: int = 30, classes: int = 3, dim: int = 16):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.2, (classes, dim))
    y = np.repeat(np.arange(classes), per_class)
    return centres[y] + rng.normal(0, 1, (len(y), dim)), y


@pytest.mark.parametrize("name", ["ridge", "logistic_regression", "linear_svm"])
def test_search_grid_chooses_what_grid_search_chooses(name):
    x, y = _blobs()
    splits = folds(y, 3, 0, None)
    baseline = BASELINES[name]
    ours = search_grid(baseline, x, y, splits, 3, seed=0)
    theirs = GridSearchCV(baseline.make(0), baseline.grid, scoring="accuracy", cv=splits).fit(x, y)
    assert ours.params == theirs.best_params_
    assert ours.cv_accuracy == pytest.approx(theirs.best_score_)
    np.testing.assert_allclose(ours.estimator.decision_function(x), theirs.best_estimator_.decision_function(x))
    # the out-of-fold logits come from models that never saw the item: not the refit's own answers
    assert ours.oof_logits.shape == (len(y), 3)
    held_right = (ours.oof_logits.argmax(1) == y).mean()
    assert held_right == pytest.approx(ours.cv_accuracy)


def test_a_deadline_stops_a_baseline_between_fits():
    x, y = _blobs(per_class=40)
    splits = folds(y, 3, 0, None)
    baseline = BASELINES["logistic_regression"]
    calls = []
    real = baseline.make

    def counting(seed):  # each fit takes at least 0.2 s
        calls.append(seed)
        time.sleep(0.2)
        return real(seed)

    slow = type(baseline)(baseline.name, counting, baseline.grid, baseline.scores)
    grid_fits = len(splits) * len(baseline.grid["clf__C"]) + 1
    with pytest.raises(OutOfTime):
        search_grid(slow, x, y, splits, 3, seed=0, deadline=time.monotonic() - 1)
    assert calls == []  # past the deadline: not one fit
    with pytest.raises(OutOfTime):
        search_grid(slow, x, y, splits, 3, seed=0, deadline=time.monotonic() + 0.5)
    assert 1 <= len(calls) <= 3 < grid_fits  # stopped between fits, long before the grid's end
    calls.clear()
    search_grid(slow, x, y, splits, 3, seed=0, deadline=time.monotonic() + 600)
    assert len(calls) == grid_fits  # with time left, every setting on every fold and the refit
