"""Where TransferLab keeps what it computes, so every module agrees on one place."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """TransferLab's own folder: `$TRANSFERLAB_HOME`, else `~/.cache/transferlab`."""
    configured = os.environ.get("TRANSFERLAB_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "transferlab"


def cache_dir(kind: str) -> Path:
    """A sub-folder of `home()` for one kind of cached artefact (weights, features, ...)."""
    folder = home() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def keras_models_dir() -> Path:
    """The folder where Keras looks for (and downloads) application weights."""
    keras_home = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    return Path(keras_home).expanduser() / "models"
