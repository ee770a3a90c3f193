"""Run folders: every file written atomically, and a status that says when a run is complete.

A reader trusts a run only when `status.json` says "complete"; a file is either absent or whole,
because it is written beside its final name and then renamed over it.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

STATUS_FILE = "status.json"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write `data` to `path` so that no reader ever sees a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    os.replace(partial, path)
    return path


def write_json(path: Path, value) -> Path:
    return write_atomic(path, json.dumps(value, indent=2, ensure_ascii=False, default=_jsonable))


def save_keras(model, path: Path) -> Path:
    """Save a Keras model atomically (Keras needs the .keras suffix on the file it writes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.partial.keras")
    model.save(partial)
    os.replace(partial, path)
    return path


def set_status(run_dir: Path, state: str, **details) -> None:
    write_json(run_dir / STATUS_FILE, {"state": state, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")} | details)


def status(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"state": "unknown"}


def list_runs(workspace: Path) -> list[dict]:
    """Finished runs under `workspace/runs`, newest first, with their headline numbers."""
    rows = []
    for run_dir in sorted((Path(workspace) / "runs").glob("*/"), reverse=True):
        if status(run_dir).get("state") != "complete":
            continue  # running or interrupted: never shown as if it were a result
        try:
            report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        rows.append({
            "run": run_dir.name, "dataset": report.get("source", ""), "strategy": report["strategy"],
            "selected": f"{report['selected']['strategy']}/{report['selected']['model']}",
            "test_accuracy": report["test"]["accuracy"], "seconds": report["seconds"],
            "bundle": (run_dir / "bundle.zip").is_file(), "run_dir": run_dir,
        })  # fmt: skip
    return rows


def _jsonable(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
