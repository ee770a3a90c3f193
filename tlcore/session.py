"""What a browser session has chosen, kept in its workspace, so a reload, a page switch or a
restart of the app loses nothing: the loaded dataset, the analysis, the strategy, the class
descriptions and the run on show. Every entry names a folder inside the workspace, never a path.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from .runs import read_json, write_json

STATE_FILE = "session.json"


@dataclass(frozen=True)
class Session:
    choice: str = ""  # the Data page's choice: "sample:NAME" or "upload"
    dataset: str = ""  # folder name under datasets/ of the loaded dataset
    dataset_key: str = ""  # what was loaded (the choice, the upload's digest and columns)
    upload: dict = field(default_factory=dict)  # {"file": name under uploads/, "name": the user's file name}
    analysis: str = ""  # folder name under analyses/ of the analysis on show
    strategy: str = ""  # the strategy chosen on Analyse
    descriptions: dict = field(default_factory=dict)  # class -> typed description (texts)
    run: str = ""  # folder name under runs/ of the run on show

    def folder(self, workspace: Path, kind: str) -> Path | None:
        """workspace/datasets/<dataset>, workspace/analyses/<analysis> or workspace/runs/<run>, if set and plain."""
        name = {"datasets": self.dataset, "analyses": self.analysis, "runs": self.run}[kind]
        if not name or "/" in name or "\\" in name or name.startswith("."):
            return None
        return Path(workspace) / kind / name


def load(workspace: Path) -> Session:
    stored = read_json(Path(workspace) / STATE_FILE)
    known = {f.name for f in dataclasses.fields(Session)}
    return Session(**{k: v for k, v in stored.items() if k in known})


def update(workspace: Path, **changes) -> Session:
    """Change some entries and save the session atomically; returns the new session."""
    session = dataclasses.replace(load(workspace), **changes)
    write_json(Path(workspace) / STATE_FILE, dataclasses.asdict(session))
    return session
