"""Uploads stored under names the server makes: a browser's file name is data, never a path.

The name a browser sends with a file can be anything (`/etc/x.csv`, `../../app.py`). It is kept
only to show the user and to name the dataset; the bytes go to `uploads/<digest><suffix>` in the
session's workspace, where the suffix is one of a few known kinds.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import DataError
from .runs import write_atomic, write_json

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
    if not path.is_file() or path.stat().st_size != len(data):
        write_atomic(path, data)
    write_json(folder / f"{digest}.json", {"name": name, "bytes": len(data)})
    return Upload(path, name)
