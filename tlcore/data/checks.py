"""The class rules every import applies, to images and texts alike: what is refused, what is warned about.

Each importer names its items ("images", "texts"), what its skipped entries are ("files", "rows or
files") and how to fix a layout; the rules and their wording are here once.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import DataError
from .layout import Skipped

MIN_PER_CLASS = 2  # one to learn from, one to test on
MIN_TRAINING = 2  # training items per class: one is held out while the other is learnt from (`tlcore.folds`)
FEW_PER_CLASS = 10
IMBALANCE_RATIO = 5.0


@dataclass(frozen=True)
class Items:
    """How an importer's messages name its items."""

    noun: str  # "images"
    skipped: str  # what the skipped entries are: "files"
    help: str  # the expected layout, ending a refusal
    removal: str  # how to drop a class: "remove their folders"
    training: str  # where training items go: "the train folder"


def refuse_unusable(name: str, frame: pd.DataFrame, skipped: list[Skipped], items: Items) -> None:
    """Refuse a dataset no classifier can learn from: nothing usable, one class, or a class of one item."""
    if frame.empty:
        reasons = "; ".join(f"{s.file}: {s.reason}" for s in skipped[:3])
        found = f" Skipped {len(skipped)} {items.skipped}, e.g. {reasons}." if skipped else ""
        raise DataError(f"{name}: found no usable {items.noun}.{found} {items.help}")
    counts = frame["label"].value_counts()
    if len(counts) < 2:
        raise DataError(f"{name}: found 1 class ({counts.index[0]!r}, {counts.iloc[0]} {items.noun}); a classifier "
                        f"needs at least 2. {items.help}")
    small = counts[counts < MIN_PER_CLASS]
    if len(small):
        listed = ", ".join(f"{label!r} ({n})" for label, n in small.items())
        raise DataError(f"{name}: each class needs at least {MIN_PER_CLASS} {items.noun} (one to learn from, one to "
                        f"test on); too few in {listed}. Add {items.noun} to these classes or {items.removal}")


def refuse_untrainable(frame: pd.DataFrame, items: Items) -> None:
    """Refuse classes the split left without a training item (given splits can do that)."""
    trained = set(frame.loc[frame["split"] == "train", "label"])
    missing = sorted(set(frame["label"]) - trained)
    if missing:
        raise DataError(f"classes {missing} have no {items.noun} in the training split, so no model can learn them; "
                        f"add some of their {items.noun} to {items.training}")


def class_warnings(frame: pd.DataFrame, items: Items) -> list[str]:
    """Few items in a class, or imbalanced classes: trainable, but worth knowing."""
    warnings = []
    counts = frame["label"].value_counts()
    few = counts[counts < FEW_PER_CLASS]
    if len(few):
        listed = ", ".join(f"{label!r} ({n})" for label, n in few.items())
        warnings.append(f"few {items.noun} in {listed}; {FEW_PER_CLASS} or more per class give steadier results")
    trained = frame.loc[frame["split"] == "train", "label"].value_counts() if "split" in frame else None
    single = sorted(label for label in counts.index if trained is not None and trained.get(label, 0) == 1)
    if single:
        listed = ", ".join(repr(label) for label in single[:5]) + (f" and {len(single) - 5} more" if len(single) > 5
                                                                   else "")
        warnings.append(f"{listed} {'has' if len(single) == 1 else 'have'} a single training {items.noun[:-1]}: "
                        f"training needs {MIN_TRAINING} per class and will refuse; add {items.noun} (with the default "
                        f"split, 4 per class give {MIN_TRAINING} to training)")
    if counts.max() / counts.min() > IMBALANCE_RATIO:
        warnings.append(f"classes are imbalanced: {counts.index[0]!r} has {counts.iloc[0]} {items.noun}, "
                        f"{counts.index[-1]!r} {counts.iloc[-1]} ({counts.iloc[0] / counts.iloc[-1]:.0f}x); "
                        "training will weight classes to compensate")
    return warnings


def skipped_warning(skipped: list[Skipped], items: Items) -> list[str]:
    """One line pointing to the list of skipped entries, if there are any."""
    if not skipped:
        return []
    return [f"{len(skipped)} {items.skipped} were skipped; see the list of skipped {items.skipped} for the reasons"]
