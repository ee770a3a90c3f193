"""Datasets kept in a workspace: built in a private folder, then renamed into place whole.

A stored dataset's folder is named by what was imported (the bytes of a zip or table, or the
listing of a folder) and how (columns, splits, limits), so two imports of the same data, even at
the same moment, agree on one folder; a reader sees it complete or not at all, never half-written.
Importing the same data again reads the stored result instead of checking every file anew.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .. import quota
from ..errors import DataError
from .archive import remove_tree

STORE_VERSION = 2  # bump when importing the same data would give another result
META_FILE = "dataset.json"  # written last by both kinds of dataset: its presence means "complete"
_CHUNK = 1 << 20

D = TypeVar("D")


def check_source(source: str | Path) -> Path:
    """`source` as a Path if it is an existing regular file or folder; a `DataError` otherwise.

    Special files (a device such as /dev/zero, a pipe, a socket) are refused before any read:
    they can be endless.
    """
    source = Path(source)
    try:
        mode = source.stat().st_mode
    except OSError:
        raise DataError(f"{source}: no such file or folder; check the path") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise DataError(f"{source} is not a regular file or folder (a device, pipe or socket); "
                        "give a folder, a .zip or a table file") from None
    return source


def source_digest(source: Path, options: str) -> str:
    """A digest of what `source` holds (a file's bytes; a folder's names, sizes and times) and of `options`."""
    digest = hashlib.sha256(f"{STORE_VERSION}\n{options}\n".encode())
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            try:
                info = path.lstat()
            except OSError:
                continue
            digest.update(f"{path.relative_to(source).as_posix()}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    else:
        with source.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def stored(
    workspace: Path,
    name: str,
    digest: str,
    build: Callable[[Path, Path], D],
    load: Callable[[Path], D],
) -> D:
    """The dataset of `digest` in `workspace/datasets`: read if stored, else built and moved into place.

    `build(private, final)` gets a new private folder to unpack into and the final folder the
    dataset will live in (its records must name that one), and returns a dataset with `save(folder)`.
    """
    datasets = Path(workspace) / "datasets"
    final = datasets / f"{slug(name)}-{digest[:16]}"
    if (final / META_FILE).is_file():
        try:
            return load(final)
        except (OSError, ValueError, KeyError):
            remove_tree(final)  # damaged by hand: build it again
    quota.check_free_space(Path(workspace), 0, "this import")  # a full disk: a clear error, nothing half-written
    private = datasets / f".partial-{secrets.token_hex(8)}"
    private.mkdir(parents=True)
    try:
        dataset = build(private, final)
        dataset.save(private)
        quota.check_import(Path(workspace), private)  # over the workspace's share: refused, the private copy removed
        try:
            os.rename(private, final)
        except OSError:
            if not (final / META_FILE).is_file():  # not a concurrent twin that finished first
                raise
    finally:
        remove_tree(private)
    return dataclasses.replace(dataset, stored_in=final)


def slug(name: str) -> str:
    """A short, safe folder-name form of a display name (the name itself stays data)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40].strip("._") or "dataset"


def load_stored(folder: Path):
    """The dataset stored in `folder` (by `stored`), read by its kind of data (`tlcore.modality`)."""
    import json

    from ..modality import DEFAULT_MODALITY, get_modality

    try:
        meta = json.loads((Path(folder) / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DataError(f"no stored dataset in {Path(folder).name}; load the data again on the Data page") from None
    return get_modality(meta.get("modality", DEFAULT_MODALITY)).load_dataset(Path(folder))
