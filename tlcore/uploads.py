"""Uploads stored under names the server makes: a browser's file name is data, never a path.

The name a browser sends with a file can be anything (`/etc/x.csv`, `../../app.py`). It is kept
only to show the user and to name the dataset; the bytes go to `uploads/<digest><suffix>` in the
session's workspace, where the suffix is one of a few known kinds.

Before a byte is written, the workspace's quota and the disk's free space are checked
(`tlcore.quota`); a write that fails all the same (the disk filled meanwhile) leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import quota
from .errors import DataError

SUFFIXES = (".zip", ".csv", ".tsv", ".tab")
MAX_NAME_CHARS = 120


@dataclass(frozen=True)
class Upload:
    path: Path  # where the server stored the bytes
    name: str  # the file name the user gave it, cleaned for display


def display_name(client_name: str) -> str:
    """The last part of a client's file name, without control characters, cut to a readable length."""
    last = PurePosixPath(str(client_name).replace("\\", "/")).name
    cleaned = re.sub(r"[\x00-\x1f\x7f]", "", last).strip().lstrip(".")
    return cleaned[:MAX_NAME_CHARS] or "upload"


def given_name(stored: Path) -> str | None:
    """The name the user gave the upload stored at `stored` (from its sidecar), or None for any other file.

    Messages about an upload name it as the user knows it, not by its digest; the name is data, for words only.
    """
    stored = Path(stored)
    if stored.parent.name != "uploads" or stored.suffix.lower() not in SUFFIXES:
        return None
    try:
        about = json.loads(stored.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = about.get("name") if isinstance(about, dict) else None
    return display_name(name) if isinstance(name, str) and name else None


def store_upload(workspace: Path, client_name: str, data: bytes, suffixes: tuple[str, ...] = SUFFIXES) -> Upload:
    """Save `data` in `workspace/uploads` under a name made of its digest; see the module docstring."""
    name = display_name(client_name)
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in suffixes:
        raise DataError(f"{name!r} is not a kind of file TransferLab imports; expected one of "
                        f"{', '.join(suffixes)}. Zip the class folders, or save the table as CSV")
    digest = hashlib.sha256(data).hexdigest()[:32]
    folder = Path(workspace) / "uploads"
    path = folder / f"{digest}{suffix}"
    sidecar = folder / f"{digest}.json"
    about = json.dumps({"name": name, "bytes": len(data)}, indent=2, ensure_ascii=False).encode("utf-8")
    if path.is_file() and path.stat().st_size == len(data):  # the same bytes, stored before: only the name changes
        _write_whole(sidecar, about)
        return Upload(path, name)
    quota.check_can_write(workspace, len(data) + len(about), f"the upload {name!r}")
    _write_whole(path, data)
    try:
        _write_whole(sidecar, about)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Upload(path, name)


def _write_whole(path: Path, data: bytes) -> None:
    """Write `data` beside `path` and rename it into place; on any failure remove the partial file, and a full
    disk or quota becomes a `DiskFullError` in words."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        with _open_partial(partial) as file:
            file.write(data)
        os.replace(partial, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            partial.unlink()
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise quota.DiskFullError(f"the server's disk filled up while the upload was being saved "
                                      f"({error.strerror}); nothing was kept. Ask whoever runs the server to free "
                                      "space, or delete a dataset or run") from None
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


def _open_partial(partial: Path):
    """The partial file, opened for writing (a seam for tests that fill the disk)."""
    return partial.open("xb")
