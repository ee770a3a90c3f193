"""Workspaces: one folder per browser session, named by the server and only by the server.

A workspace id is a capability: whoever has the link sees the runs. So ids carry 128 random
bits, and an id the server did not make (a link someone typed to plant a visitor in a folder
they know) is refused rather than created. Opening a workspace marks it used, so the idle cleanup
(`tlcore.quota.remove_idle_workspaces`) counts from the last visit as well as from the last write.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

from . import paths
from .errors import TLCoreError

ID_BYTES = 16  # 128 random bits
_ID = re.compile(rf"[0-9a-f]{{{2 * ID_BYTES}}}")
MARK = ".transferlab-workspace"  # written by `create` only: an id is ours when its folder holds it


class WorkspaceError(TLCoreError):
    """A workspace id that this server did not make."""


def root() -> Path:
    return paths.home() / "sessions"


def is_workspace_id(ws_id: object) -> bool:
    """Whether `ws_id` has the form of an id `create` makes (it may still not exist)."""
    return isinstance(ws_id, str) and _ID.fullmatch(ws_id) is not None


def create() -> tuple[str, Path]:
    """A new workspace: (its id, its folder)."""
    while True:
        ws_id = secrets.token_hex(ID_BYTES)
        folder = root() / ws_id
        try:
            folder.mkdir(parents=True)
        except FileExistsError:  # 2**-128; but never hand out a folder twice
            continue
        (folder / MARK).write_text("made by TransferLab\n", encoding="utf-8")
        return ws_id, folder


def open_workspace(ws_id: str) -> Path:
    """The folder of a workspace this server made; a `WorkspaceError` for any other id."""
    if not is_workspace_id(ws_id):
        raise WorkspaceError(f"the workspace id in the address is not one TransferLab makes ({len(str(ws_id))} "
                             "characters); a new workspace was opened. Use the link the app gave you")
    folder = root() / ws_id
    if not (folder / MARK).is_file():
        raise WorkspaceError("no workspace with the id in the address exists on this server; a new workspace was "
                             "opened. Use the link the app gave you, on the server that gave it")
    touch(folder)
    return folder


def touch(folder: Path) -> None:
    """Mark a workspace as used now (its mark file's time), so the idle cleanup keeps it."""
    with contextlib.suppress(OSError):  # a read-only or full disk must not stop a visitor from reading
        os.utime(Path(folder) / MARK)
