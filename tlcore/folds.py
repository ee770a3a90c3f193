"""Held-out folds that never split a group: every measure taken on items the model did not see.

A group is items that belong together (`tlcore.data.splits`: frames of one video, photos of one
session). A probe, a search or a calibration scored on an item whose twin it learned from reads
the twin, not what it would do on new data; so where a dataset has groups, each fold holds out
whole groups (`StratifiedGroupKFold`). Without groups these are scikit-learn's stratified folds,
as before groups existed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split


def group_ids(groups) -> np.ndarray | None:
    """One integer per item, shared by a group's items (an ungrouped item is its own), or None when no item
    has a group: then every fold takes its item-by-item form. A name two classes share is one group here
    (the split keeps them apart, by class): holding both out at once is the cautious side."""
    if groups is None:
        return None
    keys = pd.Series(groups, dtype=object)
    if keys.isna().all():
        return None
    keys = keys.where(keys.notna(), pd.Series([("\0item", i) for i in range(len(keys))], dtype=object))
    return pd.factorize(keys)[0]


def folds(labels: np.ndarray, wanted: int, seed: int, groups: np.ndarray | None = None) -> list:
    """(fit, held) index pairs: `wanted` stratified folds, fewer where a class (or the groups) cannot fill them."""
    count = int(max(2, min(wanted, np.bincount(labels).min())))
    if groups is None:
        return list(StratifiedKFold(count, shuffle=True, random_state=seed).split(labels, labels))
    count = int(max(2, min(wanted, len(np.unique(groups)))))
    return list(StratifiedGroupKFold(count, shuffle=True, random_state=seed).split(labels, labels, groups))


def holdout(labels: np.ndarray, fraction: float, seed: int, groups: np.ndarray | None = None):
    """Sorted (fit, score) indices with about `fraction` of the items, stratified, scored."""
    if groups is None:
        fit, score = train_test_split(np.arange(len(labels)), test_size=fraction, stratify=labels, random_state=seed)
    else:
        fit, score = folds(labels, round(1 / fraction), seed, groups)[0]
    return np.sort(fit), np.sort(score)
