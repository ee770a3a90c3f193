"""Held-out folds keep groups whole, and without groups are the stratified folds they always were."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from tlcore.data.dataset import SplitRecords
from tlcore.features import Features
from tlcore.folds import folds, group_ids, holdout
from tlcore.train import baselines
from tlcore.train.candidate import Context
from tlcore.train.config import TrainConfig


def _twins(seed: int = 3):
    """40 groups of 6 near-identical items, each group's class drawn at random: nothing to learn across groups."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(rng.permutation(np.arange(40) % 2), 6)
    x = np.repeat(rng.normal(size=(40, 16)), 6, axis=0) + 0.01 * rng.normal(size=(240, 16))
    return x, labels, np.repeat([f"video{g}" for g in range(40)], 6)


def test_folds_and_the_holdout_never_split_a_group():
    _, labels, names = _twins()
    ids = group_ids(names)
    for fit, held in folds(labels, 5, 0, ids):
        assert not set(ids[fit]) & set(ids[held]) and set(labels[held]) == {0, 1}
    fit, score = holdout(labels, 0.2, 0, ids)
    assert not set(ids[fit]) & set(ids[score]) and 0.1 < len(score) / len(labels) < 0.3


def test_without_groups_the_folds_are_scikit_learns_stratified_ones():
    labels = np.repeat([0, 1, 2], 10)
    assert group_ids([None] * 30) is None and group_ids(None) is None
    expected = StratifiedKFold(5, shuffle=True, random_state=4).split(labels, labels)
    assert all((a == c).all() and (b == d).all() for (a, b), (c, d) in zip(folds(labels, 5, 4), expected, strict=True))
    _, score = train_test_split(np.arange(30), test_size=0.2, stratify=labels, random_state=4)
    assert (holdout(labels, 0.2, 4)[1] == np.sort(score)).all()


def test_the_baselines_calibrate_on_whole_groups_held_out():
    """The out-of-fold answers a confidence is calibrated on: by group they are at chance on twins, as new
    videos would be; split by item they read each twin and would make every answer look sure."""
    x, labels, names = _twins()

    class Twins(SplitRecords):  # the groups come from records, as an import stores them
        classes = ("a", "b")

        def __init__(self, grouped: bool):
            self.records = pd.DataFrame({"label": np.array(self.classes)[labels], "split": "train",
                                         "group": names if grouped else None})

    accuracy = {}
    for grouped in (True, False):
        splits = ("train", "val", "test")
        features = {s: Features(x.astype(np.float32), np.zeros((240, 0), np.float32), s) for s in splits}
        ctx = Context(Twins(grouped), TrainConfig(baselines=("knn",)), None, features,
                      dict.fromkeys(splits, labels), None, 1e18, 1.0, 100)
        (candidate,) = baselines.run(ctx)
        accuracy[grouped] = float(np.mean(candidate.oof_logits.argmax(1) == labels))
    assert accuracy[False] > 0.95 and accuracy[True] < 0.75
