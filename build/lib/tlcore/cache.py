"""Arrays cached on disk (features, embeddings): written atomically, and read back only when whole.

A cache file can still be damaged (a full disk, a copy cut short, an edit by hand). Reading one
that fails to load, lacks an array or has the wrong number of rows removes it and reports a note,
and the caller computes the arrays again instead of failing on every retry.
"""

from __future__ import annotations

import logging
import os
import secrets
import zipfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def read_arrays(path: Path, names: tuple[str, ...], rows: int) -> tuple[dict[str, np.ndarray] | None, str]:
    """({name: array}, "") from a whole cache file; (None, note) when it is absent or was damaged and removed."""
    if not path.is_file():
        return None, ""
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: np.asarray(stored[name]) for name in names}
        if any(len(a) != rows for a in arrays.values()):
            raise ValueError(f"expected {rows} rows, found {[len(a) for a in arrays.values()]}")
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        path.unlink(missing_ok=True)
        note = f"the cache file {path} was damaged ({type(error).__name__}); it was removed and is being recomputed"
        log.warning(note)
        return None, note
    return arrays, ""


def write_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Save `arrays` as one .npz that readers see whole or not at all (written beside, then renamed)."""
    partial = path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.partial.npz")
    np.savez(partial, **arrays)
    os.replace(partial, path)
