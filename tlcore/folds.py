"""Held-out folds that never split a group: every measure taken on items the model did not see.

A group is items that belong together (`tlcore.data.splits`: frames of one video, photos of one
session). A probe, a search or a calibration scored on an item whose twin it learned from reads
the twin, not what it would do on new data; so where a dataset has groups, each fold holds out
whole groups (`StratifiedGroupKFold`). Without groups these are scikit-learn's stratified folds,
as before groups existed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from .errors import DataError


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


MIN_PER_CLASS = 2  # one item of a class held out while another of it is learnt from
LEAVE_ONE_OUT_MAX = 30  # a set this small, whose smallest class allows only two folds, leaves one item out at a time


def folds(labels: np.ndarray, wanted: int, seed: int, groups: np.ndarray | None = None) -> list:
    """(fit, held) index pairs: `wanted` stratified folds, fewer where a class (or the groups) cannot fill them.

    Every fit side holds every class. A class with one group (or ungrouped) is folded item by item, as the
    splitter splits it; a class with a single item cannot be held out at all, and is refused in words. Where
    the smallest class allows only two folds of a tiny set, each item is held out alone (leave-one-out), so
    every fit learns from all but one item instead of half of them.
    """
    labels = np.asarray(labels)
    refuse_single_items(labels)
    if groups is not None:
        groups = _units(labels, np.asarray(groups))
        count = int(max(2, min(wanted, len(np.unique(groups)))))
        found = list(StratifiedGroupKFold(count, shuffle=True, random_state=seed).split(labels, labels, groups))
        if all(set(labels[fit]) == set(labels) for fit, _ in found):
            return found  # else the groups cannot be dealt so that each side keeps every class: item by item
    count = int(max(2, min(wanted, np.unique(labels, return_counts=True)[1].min())))
    if count == 2 < wanted and len(labels) <= LEAVE_ONE_OUT_MAX:  # halves of a tiny set fit on too little
        every = np.arange(len(labels))
        return [(np.delete(every, i), every[i : i + 1]) for i in every]
    return list(StratifiedKFold(count, shuffle=True, random_state=seed).split(labels, labels))


def refuse_single_items(labels: np.ndarray) -> None:
    """A `DataError` when a class has fewer than 2 items: no held-out measure can then learn it."""
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) and counts.min() < MIN_PER_CLASS:
        single = int((counts < MIN_PER_CLASS).sum())
        raise DataError(f"training needs at least {MIN_PER_CLASS} items of every class to learn from (in the "
                        "training split; the analysis also reads the validation split), one to hold out while it "
                        f"learns from the other; {single} of the {len(classes)} classes "
                        f"{'has' if single == 1 else 'have'} only 1. Add items to those classes: with the default "
                        "split, 4 per class give 2 to training")


def _units(labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """`groups` where each class has at least 2 of them; the items of a class with fewer are their own units."""
    units = groups.astype(np.int64, copy=True)
    fresh = units.max(initial=-1) + 1
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        if len(np.unique(units[rows])) < MIN_PER_CLASS:
            units[rows] = fresh + np.arange(len(rows))
            fresh += len(rows)
    return units


def holdout(labels: np.ndarray, fraction: float, seed: int, groups: np.ndarray | None = None):
    """Sorted (fit, score) indices with about `fraction` of the items, stratified, scored.

    At least one item of each class is scored and one kept to fit on (more than `fraction` of a tiny set)."""
    labels = np.asarray(labels)
    if groups is None:
        refuse_single_items(labels)
        n_classes = len(np.unique(labels))
        size = min(max(math.ceil(fraction * len(labels)), n_classes), len(labels) - n_classes)
        fit, score = train_test_split(np.arange(len(labels)), test_size=size, stratify=labels, random_state=seed)
    else:
        fit, score = folds(labels, round(1 / fraction), seed, groups)[0]
    return np.sort(fit), np.sort(score)


INNER_VALIDATION = 0.2  # the share of the training split the head search scores its trials on


def inner_split(y: np.ndarray, seed: int, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (fit, score) indices of the training split for the head search's trials (`tlcore.train.search`,
    and the trial the analysis times, `tlcore.costs`), whole groups on each side."""
    return holdout(y, INNER_VALIDATION, seed, groups)


def stratified_sample(rows: np.ndarray, labels: np.ndarray, max_items: int | None, seed: int) -> np.ndarray:
    """`rows` as they are, or a sample of `max_items` of them keeping each class's share, in dataset order
    (`labels` indexed by row): what the base rankings measure on a large dataset."""
    if max_items is None or len(rows) <= max_items:
        return rows
    try:
        kept, _ = train_test_split(rows, train_size=max_items, stratify=labels[rows], random_state=seed)
    except ValueError:  # a class too small to split: a plain random sample
        kept = np.random.default_rng(seed).choice(rows, max_items, replace=False)
    return np.sort(kept)
