"""Baselines as Keras layers: the layer's logits equal `logits_of` for every baseline with a Keras form."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tlcore.export import exportable
from tlcore.train.as_keras import KERAS_FORMS
from tlcore.train.baselines import BASELINES, logits_of
from tlcore.train.candidate import Candidate


def _data(n_classes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), 30)
    x = rng.normal(size=(len(y), 12)) * rng.uniform(0.5, 3, 12) + rng.normal(size=12)  # unscaled on purpose
    x[np.arange(len(y)), y] += 1.5
    return x, y


@pytest.mark.parametrize("name", sorted(set(KERAS_FORMS) & set(BASELINES)))
@pytest.mark.parametrize("n_classes", [2, 3])
def test_keras_form_gives_the_baselines_own_logits(name, n_classes):
    """Binary and multi-class, with one class of the run never seen in training (it keeps a very low logit)."""
    baseline = BASELINES[name]
    x, y = _data(n_classes)
    estimator = baseline.make(0).set_params(**{k: v[0] for k, v in baseline.grid.items()}).fit(x, y)
    candidate = Candidate("extract", name, None, None, 0, 0, 0, model=estimator)
    expected = logits_of(baseline, estimator, x, n_classes + 1)

    features = keras.Input((x.shape[1],))
    model = keras.Model(features, KERAS_FORMS[name](candidate, n_classes + 1)(features))
    got = model.predict(x.astype(np.float32), verbose=0)

    seen = np.arange(n_classes)
    if baseline.scores == "proba":  # log-probabilities: the layer gives them up to one constant per input
        got, expected = got - got[:, :1], expected - expected[:, :1]
    np.testing.assert_allclose(got[:, seen], expected[:, seen], atol=2e-4, rtol=1e-4)
    assert (model.predict(x.astype(np.float32), verbose=0)[:, n_classes] < -15).all()


def test_rbf_svm_shares_support_vectors_between_classes():
    """One kernel row per training point that any class's SVM keeps, not one per class and point."""
    baseline = BASELINES["rbf_svm"]
    x, y = _data(3)
    estimator = baseline.make(0).fit(x, y)
    machines = estimator.named_steps["clf"].estimators_
    union = set().union(*(m.support_.tolist() for m in machines))
    candidate = Candidate("extract", "rbf_svm", None, None, 0, 0, 0, model=estimator)
    features = keras.Input((x.shape[1],))
    model = keras.Model(features, KERAS_FORMS["rbf_svm"](candidate, 3)(features))
    assert model.get_layer("svm_cross").units == len(union) < sum(len(m.support_) for m in machines)


def test_only_baselines_with_a_keras_form_are_exportable():
    assert exportable(Candidate("extract", "keras_head", None, None, 0, 0, 0))
    for name in BASELINES:
        assert exportable(Candidate("extract", name, None, None, 0, 0, 0)) == (name in KERAS_FORMS)
    assert {"logistic_regression", "linear_svm", "rbf_svm"} <= set(KERAS_FORMS)
