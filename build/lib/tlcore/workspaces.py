"""Workspaces: one folder per browser session, named by the server and only by the server.

A workspace id is a capability: whoever has the link sees the runs. So ids carry 128 random
bits, and an id the server did not make (a link someone typed to plant a visitor in a folder
they know) is refused rather than created.
"""

from __future__ import annotations

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
    if not isinstance(ws_id, str) or not _ID.fullmatch(ws_id):
        raise WorkspaceError(f"the workspace id in the address is not one TransferLab makes ({len(str(ws_id))} "
                             "characters); a new workspace was opened. Use the link the app gave you")
    folder = root() / ws_id
    if not (folder / MARK).is_file():
        raise WorkspaceError("no workspace with the id in the address exists on this server; a new workspace was "
                             "opened. Use the link the app gave you, on the server that gave it")
    return folder
