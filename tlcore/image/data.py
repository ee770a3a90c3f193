"""Import a labelled image dataset from a folder or a zip: validated, split, stored in a workspace.

The audit of the result lives in `tlcore.data.audit`. Everything it writes goes under the
workspace folder it is given.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import pandas as pd

from ..data.archive import unpack_zip
from ..data.checks import Items, class_warnings, refuse_untrainable, refuse_unusable, skipped_warning
from ..data.dataset import Dataset
from ..data.layout import Skipped, discover
from ..data.limits import ImportLimits, SplitConfig
from ..data.splits import GROUPED, assign_splits, group_notes
from ..data.store import check_source, source_digest, stored
from ..errors import DataError
from ..progress import ProgressCallback
from .validate import ImageInfo, check_images

TINY_SIDE = 32
LAYOUT_HELP = (
    "Expected one folder per class, e.g. cats/1.jpg and dogs/1.jpg (optionally inside train/ and "
    "val/ or test/ folders), or a CSV file with the columns path,label"
)
IMAGES = Items("images", "files", LAYOUT_HELP, "remove their folders", "the train folder")


def import_dataset(
    source: str | Path,
    workspace: Path,
    *,
    name: str | None = None,
    limits: ImportLimits = ImportLimits(),
    split: SplitConfig = SplitConfig(),
    progress: ProgressCallback | None = None,
) -> Dataset:
    """Read `source` (a folder or a .zip), check every image, fix the splits and save the result.

    A zip is unpacked into `workspace/datasets/<name>-<digest>/files`; a folder is read where it is.
    The dataset is saved beside as `dataset.{csv,json}` (see `tlcore.data.store`: atomic, and an
    import of the same data again reads what is stored). `name` is what the user calls the data
    (an upload's own file name); by default the source's.
    """
    source = check_source(source)
    is_zip = source.is_file() and (source.suffix.lower() == ".zip" or zipfile.is_zipfile(source))
    if not (source.is_dir() or is_zip):
        raise DataError(f"{source.name} is neither a folder nor a .zip file. {LAYOUT_HELP}, zipped")
    name = (Path(name).stem if is_zip else name) if name else (source.stem if is_zip else source.name)

    def build(private: Path, final: Path) -> Dataset:
        root = source
        if is_zip:
            root = unpack_zip(source, private / "files", limits, progress)
        dataset = _build(root, name, limits, split, progress)
        return dataclasses.replace(dataset, root=final / "files") if is_zip else dataset

    digest = source_digest(source, f"image {limits} {split} {GROUPED}")
    return stored(workspace, name, digest, build, Dataset.load)


def _build(root: Path, name: str, limits: ImportLimits, split: SplitConfig, progress) -> Dataset:
    root = root.resolve()
    layout = discover(root)
    results = check_images([c.path for c in layout.candidates], limits.max_pixels, progress)
    skipped = list(layout.skipped)
    rows = []
    for candidate, result in zip(layout.candidates, results, strict=True):
        if isinstance(result, ImageInfo):
            rows.append({
                "path": candidate.relative, "label": candidate.label,
                "split": candidate.split, "group": candidate.group, "sha256": result.sha256, "width": result.width,
                "height": result.height, "format": result.format,
            })  # fmt: skip
        else:
            skipped.append(Skipped(candidate.relative, result))
    frame = pd.DataFrame(rows, columns=["path", "label", "split", "group", "sha256", "width", "height", "format"])
    refuse_unusable(name, frame, skipped, IMAGES)
    if set(frame["split"].dropna()) == {"train", "val"}:
        layout.notes.append("no test folder: the val folder is the held-out test split; validation comes from train")
    frame["split"] = assign_splits(frame, split)
    layout.notes.extend(group_notes(frame, "image"))
    frame = frame.sort_values(["split", "label", "path"], key=_split_order).reset_index(drop=True)
    classes = tuple(sorted(frame["label"].unique()))
    refuse_untrainable(frame, IMAGES)
    return Dataset(
        root=root,
        records=frame,
        classes=classes,
        layout=layout.kind,
        source=name,
        skipped=tuple(skipped),
        warnings=tuple(layout.notes + _warnings(frame, skipped)),
        notes=tuple(layout.notes),
    )


def _split_order(column: pd.Series) -> pd.Series:
    return column.map({"train": 0, "val": 1, "test": 2}) if column.name == "split" else column


def _warnings(frame: pd.DataFrame, skipped: list[Skipped]) -> list[str]:
    warnings = class_warnings(frame, IMAGES)
    tiny = int((frame[["width", "height"]].min(axis=1) < TINY_SIDE).sum())
    if tiny:
        warnings.append(f"{tiny} images are under {TINY_SIDE} px on their shortest side; they carry little detail")
    for split_name in ("val", "test"):
        absent = sorted(set(frame["label"]) - set(frame.loc[frame["split"] == split_name, "label"]))
        if absent:
            warnings.append(f"no {split_name} images for classes {absent}: too few images to spare one")
    return warnings + skipped_warning(skipped, IMAGES)
