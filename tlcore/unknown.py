""""None of my classes": how far an input lies from the training examples of every class.

A classifier gives every input one of its classes, however unrelated the input. This module
scores how unlike the training data an input is, from the features the model's head reads: a
Gaussian per class with one shared covariance (Lee et al., 2018, "A simple unified framework for
detecting out-of-distribution samples and adversarial attacks"), on features scaled to unit
length. The score is the squared Mahalanobis distance to the nearest class mean divided by the
distance that `PASS_SHARE` of the validation split stays under, so 1 is the line: above it the
input looks like none of the classes. The covariance is shrunk (Ledoit-Wolf): a few hundred
inputs cannot estimate a 1,280 x 1,280 matrix.

The score is written with Keras's own layers (`UnknownDetector.output`), so a bundle's model
computes it beside the probabilities and its `predict.py` says the same as `tlcore.predict`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PASS_SHARE = 0.95  # the share of validation inputs that must read as known
MIN_HELD_OUT = 5  # held-out inputs the line needs, at the least
CROSS_FOLDS = 10  # at most: one training item of each class left out at a time, on the small data that needs it
OUTPUT_NAME = "unknown_score"


@dataclass(frozen=True, eq=False)
class UnknownDetector:
    """Unit-length features -> whitened space (shared covariance = identity) -> distance to the nearest class."""

    whitening: np.ndarray  # D x D
    centres: np.ndarray  # C x D: the class means, whitened
    threshold: float  # the squared distance PASS_SHARE of validation inputs stay under
    val_items: int
    set_on: str = ""  # the held-out inputs the line was set on, in words ("" : the validation split alone)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """The unknown score of each row: above 1 it looks like none of the classes."""
        return self._distances(features).min(axis=1) / self.threshold

    def _distances(self, features: np.ndarray) -> np.ndarray:
        z = _unit(features) @ self.whitening
        return np.maximum((z * z).sum(1)[:, None] - 2 * z @ self.centres.T + (self.centres**2).sum(1)[None], 0.0)

    def output(self, features):
        """The same score as Keras layers on a features tensor (N x D) -> (N x 1), named OUTPUT_NAME."""
        import keras

        c, d = self.centres.shape
        unit = keras.layers.UnitNormalization(name="unknown_unit_length")(features)
        z = _fixed_dense(self.whitening, None, "unknown_whiten")(unit)
        norm = _fixed_dense(np.ones((d, 1)), None, "unknown_norm")(keras.layers.Multiply(name="unknown_square")([z, z]))
        joined = keras.layers.Concatenate(name="unknown_join")([z, norm])
        # |z - c|^2 = |z|^2 - 2 z.c + |c|^2, one column per class
        kernel = np.vstack([-2 * self.centres.T, np.ones((1, c))])
        distances = _fixed_dense(kernel, (self.centres**2).sum(1), "unknown_distances")(joined)
        negated = keras.layers.Rescaling(-1.0, name="unknown_negate")(distances)
        nearest = keras.layers.GlobalMaxPooling1D(name="unknown_nearest")(keras.layers.Reshape((c, 1))(negated))
        return keras.layers.Rescaling(-1.0 / self.threshold, name=OUTPUT_NAME)(nearest)

    def describe(self, test_features: np.ndarray | None = None) -> dict:
        """What the report says: the rule, where its line was set, and how often it fires on the test split."""
        summary = {"method": "distance to the nearest class (shared-covariance Gaussian on the head's features)",
                   "threshold_set_on": f"{self.set_on or f'validation split ({self.val_items} items)'}: "
                                       f"{PASS_SHARE:.0%} read as known"}
        if test_features is not None and len(test_features):
            summary |= {"test_flagged": float(np.mean(self.scores(test_features) > 1.0)),
                        "test_items": len(test_features)}
        return summary


def fit_detector(train: np.ndarray, labels: np.ndarray, val: np.ndarray, *,
                 cross_fit: bool = False) -> UnknownDetector | None:
    """The detector fitted on the training split, its line set on validation; None with too little data.

    A validation split of fewer than `MIN_HELD_OUT` inputs cannot set the line alone. With
    `cross_fit`, the training split's own inputs then join it, each scored by a detector fitted
    without it (`CROSS_FOLDS` folds, class by class), so every distance behind the line is still
    one of an input the detector did not see; the final detector is fitted on the whole training
    split. Small gathered datasets (10 images a class leave 4 for validation) get a detector so.
    """
    classes = np.unique(labels)
    if len(classes) < 2 or len(train) <= len(classes):
        return None
    if len(val) < MIN_HELD_OUT and not cross_fit:
        return None
    detector = _fitted(train, labels, 1.0, len(val), "")
    held_out = [detector._distances(val).min(axis=1)] if len(val) else []
    set_on = f"validation split ({len(val)} items)"
    if len(val) < MIN_HELD_OUT:
        folds = _folds(labels, CROSS_FOLDS)
        for k in np.unique(folds):
            rest = folds != k
            if rest.sum() > len(np.unique(labels[rest])):  # a fold's detector needs more rows than classes
                held_out.append(_fitted(train[rest], labels[rest], 1.0, 0, "")._distances(train[~rest]).min(axis=1))
        scored = sum(len(d) for d in held_out)
        if scored < MIN_HELD_OUT:
            return None
        set_on = (f"validation split ({len(val)} items) and the training split ({scored - len(val)} items, each "
                  f"scored by a detector fitted without it)")
    threshold = float(np.quantile(np.concatenate(held_out), PASS_SHARE, method="higher"))
    return UnknownDetector(detector.whitening, detector.centres, max(threshold, 1e-12), len(val), set_on)


def _fitted(train: np.ndarray, labels: np.ndarray, threshold: float, val_items: int, set_on: str) -> UnknownDetector:
    """Class means and the shared, shrunk covariance of unit-length `train` rows, as a detector with `threshold`."""
    from sklearn.covariance import LedoitWolf

    unit = _unit(train)
    present = np.unique(labels)  # a class with no training row has no mean
    means = np.zeros((int(labels.max()) + 1, unit.shape[1]))
    means[present] = np.stack([unit[labels == k].mean(0) for k in present])
    covariance = LedoitWolf(store_precision=False).fit(unit - means[labels]).covariance_
    values, vectors = np.linalg.eigh(covariance)
    whitening = vectors / np.sqrt(np.maximum(values, values.max() * 1e-6))
    centres = (means[present] @ whitening).astype(np.float32)
    return UnknownDetector(whitening.astype(np.float32), centres, threshold, val_items, set_on)


def _folds(labels: np.ndarray, folds: int) -> np.ndarray:
    """A fold per row, dealt class by class in a seeded order, so every fold holds each class's share."""
    rng = np.random.default_rng(0)
    fold = np.empty(len(labels), int)
    for k in np.unique(labels):
        rows = np.flatnonzero(labels == k)
        fold[rng.permutation(rows)] = np.arange(len(rows)) % folds
    return fold


def _unit(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as keras.layers.UnitNormalization does."""
    features = np.asarray(features, np.float64)
    return features / np.sqrt(np.maximum((features**2).sum(1, keepdims=True), 1e-12))


def _fixed_dense(kernel: np.ndarray, bias: np.ndarray | None, name: str):
    import keras

    layer = keras.layers.Dense(kernel.shape[1], use_bias=bias is not None, trainable=False, name=name)
    layer.build((None, kernel.shape[0]))
    layer.set_weights([kernel.astype(np.float32)] + ([np.asarray(bias, np.float32)] if bias is not None else []))
    return layer
