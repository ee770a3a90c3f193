"""A new version of a dataset after its label issues were reviewed: items excluded or relabelled.

The original is never changed: the version is stored beside it in `workspace/datasets` (under a
name made of the original's split digest and the changes), with the same files and splits, so
an image version points at the original's files. Items are named as the audit names them (an
image's path in the dataset, a text itself).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from ..errors import DataError
from .store import stored


def revise(dataset, workspace: Path, item_column: str, *, exclude: set[str] = frozenset(),
           relabel: Mapping[str, str] | None = None):
    """`dataset` without the items in `exclude` and with `relabel` (item -> class) applied, stored as a new one."""
    relabel = dict(relabel or {})
    unknown = sorted(set(relabel.values()) - set(dataset.classes))
    if unknown:
        raise DataError(f"cannot relabel as {unknown}: not classes of {dataset.source}; choose one of its classes")
    records = dataset.records
    missing = (set(exclude) | set(relabel)) - set(records[item_column])
    if missing:
        raise DataError(f"{len(missing)} reviewed item(s) are not in {dataset.source}; review this dataset's issues")
    kept = records[~records[item_column].isin(set(exclude))].copy()
    kept["label"] = [relabel.get(item, label) for item, label in zip(kept[item_column], kept["label"], strict=True)]
    classes = tuple(sorted(kept["label"].unique()))
    trained = set(kept.loc[kept["split"] == "train", "label"])
    if len(classes) < 2 or trained != set(classes):
        raise DataError("the reviewed dataset would leave a class without training items (or fewer than two "
                        "classes); exclude fewer items")
    version = dataclasses.replace(dataset, records=kept.reset_index(drop=True), classes=classes, stored_in=None,
                                  source=f"{dataset.source} (reviewed)")
    changes = json.dumps({"from": dataset.split_hash(), "exclude": sorted(exclude), "relabel": sorted(relabel.items())})
    digest = hashlib.sha256(changes.encode()).hexdigest()
    return stored(workspace, version.source, digest, lambda private, final: version, type(dataset).load)
