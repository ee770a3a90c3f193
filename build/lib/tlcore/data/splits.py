"""Stratified, seeded train/validation/test splits that leave no class out of a split that needs it.

Rule, per class of n images with fractions v (validation) and t (test), default 0.15 each:
test = max(1, round(n * t)) and validation = max(1, round(n * v)) while at least one image is
left for training; a class of 2 images gives 1 to training and 1 to test, none to validation.
Where the data came with split folders, those are kept; only a missing validation or test
split is carved out of the training split by the same rule. The tutorial layout, `train/` and
`val/` with no `test/`, is read as the user meant it: `val/` is the held-out set, so it becomes
the test split, and validation is carved out of `train/`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .limits import SplitConfig


def split_counts(n: int, config: SplitConfig) -> tuple[int, int, int]:
    """(train, val, test) sizes for a class of `n` images."""
    test = max(1, round(n * config.test_fraction)) if config.test_fraction > 0 else 0
    val = max(1, round(n * config.val_fraction)) if config.val_fraction > 0 else 0
    test = min(test, max(n - 1, 0))
    val = min(val, max(n - 1 - test, 0))
    return n - val - test, val, test


def assign_splits(frame: pd.DataFrame, config: SplitConfig) -> pd.Series:
    """A split per row of `frame` (columns `path`, `label`, `split`): given splits kept, missing ones carved."""
    splits = frame["split"].copy()
    given = set(splits.dropna())
    if given == {"train", "val"}:
        splits[splits == "val"] = "test"
        given = {"train", "test"}
    carve = SplitConfig(
        val_fraction=0.0 if "val" in given else config.val_fraction,
        test_fraction=0.0 if "test" in given else config.test_fraction,
        seed=config.seed,
    )
    pool = splits.isna() | (splits == "train")
    rng = np.random.default_rng(config.seed)
    for label in sorted(frame.loc[pool, "label"].unique()):
        rows = frame.index[pool & (frame["label"] == label)]
        rows = rows[np.argsort(frame.loc[rows, "path"].to_numpy(dtype=object))]  # order-independent input
        rows = rows[rng.permutation(len(rows))]
        train, val, _test = split_counts(len(rows), carve)
        splits.loc[rows[:train]] = "train"
        splits.loc[rows[train : train + val]] = "val"
        splits.loc[rows[train + val :]] = "test"
    return splits
