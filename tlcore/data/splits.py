"""Stratified, seeded train/validation/test splits that leave no class out of a split that needs it.

Rule, per class of n images with fractions v (validation) and t (test), default 0.15 each:
test = max(1, round(n * t)) and validation = max(1, round(n * v)) while at least one image is
left for training; a class of 2 images gives 1 to training and 1 to test, none to validation.
Where the data came with split folders, those are kept; only a missing validation or test
split is carved out of the training split by the same rule. The tutorial layout, `train/` and
`val/` with no `test/`, is read as the user meant it: `val/` is the held-out set, so it becomes
the test split, and validation is carved out of `train/`.

Groups (a `group` column: a class folder's sub-folders, or a CSV's column) are kept whole: within
a class, the groups, in a seeded random order, each go to the split that is furthest below its
share, so no validation or test image has a sibling (another frame of its video, another photo of
its session) in training. Not largest first, though that fills the shares more exactly: then the
held-out splits get the small groups, and where size goes with kind (a font family of many faces
is a common one) they measure another population: on the glyphs, validation held only one-face
families, and read 25 points under the test. A class whose groups cannot give every
split that needs one at least one image is split image by image, as if it had none, and
`group_notes` says so. A class without groups is split exactly as before groups existed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .limits import SplitConfig

# In every stored dataset's digest: data imported before groups were kept whole is imported again.
GROUPED = "groups kept whole"


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
        counts = split_counts(len(rows), carve)
        grouped = _by_groups(frame.loc[rows, "group"], counts, rng) if "group" in frame else None
        if grouped is not None:
            splits.loc[rows] = grouped
            continue
        train, val, _test = counts
        splits.loc[rows[:train]] = "train"
        splits.loc[rows[train : train + val]] = "val"
        splits.loc[rows[train + val :]] = "test"
    return splits


def _by_groups(groups: pd.Series, counts: tuple[int, int, int], rng: np.random.Generator) -> list[str] | None:
    """A split per row that keeps each group whole, or None when the class has no groups or too few to
    give every split that needs images at least one."""
    if groups.isna().all():
        return None
    own = pd.Series("\0row " + groups.index.astype(str), index=groups.index)
    keys = groups.where(groups.notna(), own)  # an ungrouped row is its own group
    sizes = keys.value_counts()
    order = rng.permutation(np.array(sorted(sizes.index), dtype=object))  # each group equally likely anywhere
    target = dict(zip(("train", "val", "test"), counts, strict=True))
    filled = dict.fromkeys(target, 0)
    chosen = {}
    for key, size in sizes.reindex(order).items():
        split = max(target, key=lambda s: target[s] - filled[s])  # ties go to training, listed first
        chosen[key] = split
        filled[split] += int(size)
    if any(target[s] > 0 and filled[s] == 0 for s in target):
        return None
    return [chosen[key] for key in keys]


def leaks(splits: set[str]) -> bool:
    """Whether items that belong together, found in `splits`, make a held-out score optimistic."""
    return ("train" in splits and len(splits) > 1) or {"val", "test"} <= splits


def group_notes(frame: pd.DataFrame, noun: str) -> list[str]:
    """What the import says of `frame`'s groups once split: how many were kept whole, and which were not."""
    if "group" not in frame or frame["group"].isna().all():
        return []
    grouped = frame[frame["group"].notna()]
    spans = grouped.groupby(["label", "group"])["split"].agg(lambda s: set(s))
    leaking = spans[spans.map(leaks)]
    if leaking.empty:
        return [f"{len(spans)} groups (sub-folders of a class folder, or the group column) kept whole: no validation "
                f"or test {noun} has a sibling from its group in training"]
    classes = sorted({label for label, _ in leaking.index})
    return [f"{len(leaking)} of {len(spans)} groups have {noun}s in both training and a held-out split (classes "
            f"{classes}: too few groups to keep each whole, or split folders that share a group's name), so their "
            f"validation and test scores may be optimistic; give each class at least three groups"]
