"""A labelled image dataset with fixed splits, stored so every later step sees the same test set."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .layout import SPLITS, Skipped

COLUMNS = ["path", "label", "split", "group", "sha256", "width", "height", "format"]
RECORDS_FILE = "dataset.csv"
META_FILE = "dataset.json"
HASH_CHUNK = 10_000  # rows fed to the split digest at a time


def with_groups(records: pd.DataFrame) -> pd.DataFrame:
    """`records` with a `group` column (missing in datasets stored before groups), empty cells as missing."""
    groups = records["group"] if "group" in records else pd.Series(None, index=records.index, dtype=object)
    return records.assign(group=groups.where(groups.notna() & (groups != ""), None).astype(object))


class SplitRecords:
    """What images and texts share: `records` with `label`, `split` and `sha256` columns, and `classes`."""

    records: pd.DataFrame
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.records)

    def subset(self, split: str | None = None) -> pd.DataFrame:
        return self.records if split is None else self.records[self.records["split"] == split]

    def labels(self, split: str | None = None) -> np.ndarray:
        """Class indices (into `classes`) of the records of `split`, in record order."""
        index = {name: i for i, name in enumerate(self.classes)}
        return np.array([index[label] for label in self.subset(split)["label"]], dtype=np.int64)

    def groups(self, split: str | None = None) -> np.ndarray | None:
        """The group of each record of `split` (None where it has none), or None when no record has one."""
        column = self.subset(split).get("group")
        if column is None or column.isna().all():
            return None
        return column.to_numpy(dtype=object)

    def split_sizes(self) -> dict[str, int]:
        counts = self.records["split"].value_counts()
        return {split: int(counts.get(split, 0)) for split in SPLITS}

    def class_sizes(self) -> dict:
        """Counts per class that every kind of data shares: what the recommendation's data-size rule reads."""
        counts = self.records["label"].value_counts()
        known = self.records.loc[self.records["split"] != "test", "label"].value_counts()
        return {
            "n_classes": len(self.classes),
            "per_class_median": float(counts.median()),
            "per_class_min": int(counts.min()),
            "per_class_known_median": float(known.median()),  # training + validation: what a model can learn from
            "imbalance": float(counts.max() / counts.min()),
            "splits": self.split_sizes(),
        } | self._group_sizes()

    def _group_sizes(self) -> dict:
        """How many groups the held-out measures can hold out (training and validation), where there are groups."""
        known = self.records[self.records["split"] != "test"]
        if "group" not in known or known["group"].isna().all():
            return {}
        from ..folds import group_ids  # here, not at the top: importing the data layer needs no scikit-learn

        ids = pd.Series(group_ids(known["group"].to_numpy(dtype=object)), index=known.index)
        per_class = ids.groupby(known["label"]).nunique()  # a group lives in its class, as the split keeps it
        return {"groups": int(per_class.sum()), "groups_per_class_min": int(per_class.min())}

    def split_hash(self) -> str:
        """A digest of which record (by content) is in which split with which label.

        The digest of `json.dumps(sorted(rows))`, fed in chunks: a list of every row at once costs
        gigabytes on a table of millions of texts.
        """
        ordered = self.records[["sha256", "label", "split"]].sort_values(["sha256", "label", "split"])
        digest, chunk = hashlib.sha256(b"["), HASH_CHUNK
        for start in range(0, len(ordered), chunk):
            rows = ordered.iloc[start : start + chunk].to_numpy(dtype=object).tolist()
            digest.update(((", " if start else "") + json.dumps(rows)[1:-1]).encode())
        digest.update(b"]")
        return digest.hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class Dataset(SplitRecords):
    """Images (`records`: one row per image, paths relative to `root`) with labels and splits."""

    root: Path
    records: pd.DataFrame
    classes: tuple[str, ...]
    layout: str
    source: str
    skipped: tuple[Skipped, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    modality: str = "image"
    stored_in: Path | None = None  # the workspace folder it was saved in (`tlcore.data.store`), once saved

    def files(self, split: str | None = None) -> list[Path]:
        """Absolute paths of the images of `split` (all images when None), in record order."""
        return [self.root / p for p in self.subset(split)["path"]]

    def items(self, split: str | None = None) -> list[Path]:
        """What the user sees of each record (here its file), in record order: reports name mistakes by it."""
        return self.files(split)

    def save(self, folder: Path) -> Path:
        """Write `dataset.csv` and `dataset.json` into `folder`; `Dataset.load(folder)` reads them back."""
        folder.mkdir(parents=True, exist_ok=True)
        self.records[COLUMNS].to_csv(folder / RECORDS_FILE, index=False)
        meta = {
            "root": str(self.root),
            "classes": list(self.classes),
            "layout": self.layout,
            "source": self.source,
            "split_hash": self.split_hash(),
            "skipped": [{"file": s.file, "reason": s.reason} for s in self.skipped],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path) -> Dataset:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        records = pd.read_csv(folder / RECORDS_FILE, dtype={"path": str, "label": str, "split": str, "sha256": str,
                                                            "group": str})
        return cls(
            root=Path(meta["root"]),
            records=with_groups(records),
            classes=tuple(meta["classes"]),
            layout=meta["layout"],
            source=meta["source"],
            skipped=tuple(Skipped(**s) for s in meta["skipped"]),
            warnings=tuple(meta["warnings"]),
            notes=tuple(meta["notes"]),
            stored_in=Path(folder),
        )
