"""What is wrong with a dataset before anyone trains on it: counts, sizes, duplicates and leakage.

Exact duplicates share a SHA-256 of their bytes. Near-duplicates are pairs whose base features,
centred on the dataset mean, have a cosine similarity of at least `NEAR_DUPLICATE_THRESHOLD`
(0.95). Measured with EfficientNet-Lite0 on hymenoptera: distinct photos reach at most 0.72,
the same photo re-saved as JPEG and brightened by 10% at least 0.91 and typically 0.96. On
low-resolution, uniform data (64 px satellite tiles, 28 px digits) distinct images reach 0.95
to 0.98, so there a reported pair is a look-alike worth a glance rather than a certain copy.
Each group is reported as within one class, across classes (conflicting labels), and across
splits; a group that joins training images with validation or test images is leakage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .dataset import Dataset
from .splits import leaks

NEAR_DUPLICATE_THRESHOLD = 0.95
MAX_NEAR_PAIRS = 1000


@dataclass(frozen=True, eq=False)
class Audit:
    """The audit of one dataset; `to_dict()` is the JSON the CLI prints."""

    per_class: pd.DataFrame
    formats: dict[str, int]
    duplicates: list[dict]
    near_duplicates: list[dict] | None  # None when no features were given
    leakage: list[dict]
    warnings: list[str] = field(default_factory=list)
    label_issues: list[dict] = field(default_factory=list)  # likely mislabelled items (needs features)

    def to_dict(self, dataset: Dataset) -> dict:
        return {
            "source": dataset.source,
            "layout": dataset.layout,
            "modality": getattr(dataset, "modality", "image"),
            f"n_{getattr(dataset, 'modality', 'image')}s": len(dataset),
            "n_classes": len(dataset.classes),
            "classes": {row["class"]: int(row["count"]) for row in self.per_class.to_dict("records")},
            "splits": dataset.split_sizes(),
            "split_hash": dataset.split_hash(),
            "per_class": self.per_class.to_dict("records"),
            "formats": self.formats,
            "skipped": [{"file": s.file, "reason": s.reason} for s in dataset.skipped],
            "duplicates": self.duplicates,
            "near_duplicates": self.near_duplicates,
            "leakage": self.leakage,
            "warnings": self.warnings,
            "label_issues": self.label_issues,
        }


def audit(dataset: Dataset, features: np.ndarray | None = None, threshold: float = NEAR_DUPLICATE_THRESHOLD) -> Audit:
    """Audit `dataset`; with `features` (one row per record, in order) near-duplicates and likely label
    mistakes (`tlcore.data.label_issues`) are found too."""
    records = dataset.records
    duplicates = [
        _describe(group)
        for _, group in records.groupby("sha256", sort=True)
        if len(group) > 1
    ]
    near = None
    if features is not None:
        if len(features) != len(records):
            raise ValueError(f"features has {len(features)} rows for {len(records)} images")
        near = [_describe(records.iloc[[i, j]], similarity=s) for i, j, s in near_pairs(features, threshold)]
    leakage = [group for group in duplicates + (near or []) if group["leakage"]]
    warnings = list(dataset.warnings)
    if leakage:
        warnings.append(
            f"{len(leakage)} group(s) of identical or near-identical images sit in both the training and a "
            "held-out split: the test score would be optimistic; remove one copy of each"
        )
    conflicting = [g for g in duplicates if "conflicting labels" in g["kinds"]]
    if conflicting:
        warnings.append(f"{len(conflicting)} image(s) appear under more than one class; keep each in one class")
    issues = label_issues_of(dataset, features, list(records["path"]))
    return Audit(_per_class(dataset), _formats(records), duplicates, near, leakage, warnings, issues)


def label_issues_of(dataset, features: np.ndarray | None, items: list[str]) -> list[dict]:
    """Likely mislabelled records (empty without features), named by `items`."""
    if features is None:
        return []
    from .label_issues import find_label_issues

    return find_label_issues(np.asarray(features, np.float64), dataset.labels(), dataset.classes, items)


def near_pairs(features: np.ndarray, threshold: float, chunk: int = 1024,
               centre: bool = True) -> list[tuple[int, int, float]]:
    """Index pairs (i < j) whose (by default centred) cosine similarity is >= threshold, most similar first."""
    centred = features - features.mean(axis=0, keepdims=True) if centre else features
    unit = centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)
    pairs = []
    for start in range(0, len(unit), chunk):
        block = unit[start : start + chunk] @ unit.T
        rows, cols = np.nonzero(block >= threshold)
        for r, c in zip(rows, cols, strict=True):
            i = start + int(r)
            if i < c:
                pairs.append((i, int(c), float(block[r, c])))
    pairs.sort(key=lambda p: -p[2])
    return pairs[:MAX_NEAR_PAIRS]


def _describe(group: pd.DataFrame, similarity: float | None = None) -> dict:
    labels, splits = sorted(set(group["label"])), sorted(set(group["split"]))
    kinds = ["within one class" if len(labels) == 1 else "conflicting labels"]
    leakage = leaks(set(splits))
    if len(splits) > 1:
        kinds.append("across splits")
    described = {
        "files": list(group["path"]),
        "labels": list(group["label"]),
        "splits": list(group["split"]),
        "kinds": kinds,
        "leakage": bool(leakage),
    }
    if similarity is not None:
        described["similarity"] = round(similarity, 4)
    return described


def _per_class(dataset: Dataset) -> pd.DataFrame:
    records = dataset.records
    table = records.groupby("label").agg(
        count=("path", "size"),
        min_width=("width", "min"), max_width=("width", "max"),
        min_height=("height", "min"), max_height=("height", "max"),
    )  # fmt: skip
    splits = records.pivot_table(index="label", columns="split", values="path", aggfunc="size", fill_value=0)
    for split in ("train", "val", "test"):
        table[split] = splits.get(split, 0)
    table["share"] = (table["count"] / table["count"].sum()).round(4)
    table = table.reindex(list(dataset.classes)).reset_index().rename(columns={"label": "class"})
    columns = ["class", "count", "share", "train", "val", "test", "min_width", "max_width", "min_height", "max_height"]
    return table[columns].astype({c: int for c in columns if c not in ("class", "share")})


def _formats(records: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in records["format"].value_counts().sort_index().items()}
