"""Run folders: every file written atomically, and a status that says when a run is complete.

A reader trusts a run only when `status.json` says "complete"; a file is either absent or whole,
because it is written beside its final name and then renamed over it. While a run works, a
heartbeat file is touched every few seconds; a run that says "running" with a stale heartbeat
lost its process (kill -9, a crash, a power cut) and reads "interrupted" from then on.
Run ids are data: only plain names are accepted, and the server makes every run folder's path.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import socket
import threading
import time
from pathlib import Path

from .errors import TLCoreError

STATUS_FILE = "status.json"
HEARTBEAT_FILE = "heartbeat"
REQUEST_FILE = "request.json"  # what the run was asked to do: a resume must ask the same
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 30.0
STATES = ("running", "complete", "failed", "interrupted", "cancelled")
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class RunError(TLCoreError):
    """A run id that is not a plain name, or a run that cannot be resumed as asked."""


class DiskFullError(TLCoreError, OSError):
    """No space left to write a file: one line for the user (an OSError too, for code that expects one)."""

    def __str__(self) -> str:  # the message alone, without OSError's "[Errno 28]"
        return str(self.strerror or super().__str__())


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full_message(where: Path | str | None = None) -> str:
    """What a full disk means for the user and what to do, in one line."""
    at = f" while writing {Path(where).name} in {Path(where).parent}" if where else ""
    return (f"the disk is full (no space left on device{at}); free some space (delete runs, datasets or workspaces "
            "you no longer need) and start it again; an interrupted run can be resumed")


def remove_partials(folder: Path) -> None:
    """Remove the unfinished files (`.NAME....partial...`) writers left in `folder`: they hold space, never data."""
    for partial in Path(folder).rglob(".*.partial*"):
        with contextlib.suppress(OSError):
            partial.unlink() if partial.is_file() else None


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def check_run_id(run_id: str) -> str:
    """`run_id` if it is a plain name (letters, digits, `_ . -`, at most 64, no `..`); a `RunError` otherwise."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise RunError(f"a run id is a plain name of letters, digits, '_', '.' and '-' (at most 64, no '..'); "
                       f"got {str(run_id)[:80]!r}. Use the id `runs` or the Runs page shows")
    return run_id


def request_fingerprint(request: dict) -> str:
    """What a run was asked, as a short digest: a resume, or a second press of Train, must ask the same."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()[:16]


def open_run(workspace: Path, run_id: str | None, request: dict) -> Path:
    """The folder for a new run, or for continuing the unfinished run `run_id`.

    A new id names a new run (distributed search workers need the name in advance). An existing
    run is continued only if it did not complete, is not running now, and was asked the same
    `request` (same data and settings); anything else is refused in words, and nothing is written.
    """
    runs_dir = Path(workspace) / "runs"
    run_dir = runs_dir / check_run_id(new_run_id() if run_id is None else run_id)
    fingerprint = request_fingerprint(request)
    if run_dir.exists():
        found = state(run_dir)
        if found == "complete":
            raise RunError(f"run {run_dir.name} is complete; only an unfinished run can be resumed. "
                           "Leave out --resume (or choose another run id) to train a new run")
        if found == "running":
            raise RunError(f"run {run_dir.name} is running now; wait for it, or cancel it first")
        asked = read_json(run_dir / REQUEST_FILE).get("fingerprint")
        if asked != fingerprint:
            raise RunError(f"run {run_dir.name} was started with other data or settings; resume it with the same "
                           "dataset and options, or leave out --resume to train a new run")
    write_json(run_dir / REQUEST_FILE, {"fingerprint": fingerprint, "request": request})
    return run_dir


class Heartbeat:
    """Touch `run_dir/heartbeat` every HEARTBEAT_SECONDS while a `with` block runs (a daemon thread)."""

    def __init__(self, run_dir: Path, every: float = HEARTBEAT_SECONDS) -> None:
        self.path, self.every = Path(run_dir) / HEARTBEAT_FILE, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="transferlab-heartbeat")

    def _beat(self) -> None:
        while True:
            with contextlib.suppress(OSError):  # a full disk or a vanished folder must not end the beat for good
                write_json(self.path, {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()},
                           make_folder=False)  # a run folder deleted meanwhile stays deleted
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def state(run_dir: Path, stale_seconds: float = STALE_SECONDS) -> str:
    """The run's state: a "running" run whose heartbeat went stale reads "interrupted". Read only: listing never
    writes (a read-only workspace or a full disk still lists; `interruption` says why)."""
    found = status(run_dir)
    if found.get("state") != "running":
        return found.get("state", "unknown")
    return "interrupted" if interruption(run_dir, stale_seconds) else "running"


def interruption(run_dir: Path, stale_seconds: float = STALE_SECONDS) -> str:
    """Why a run whose status says "running" is not running any more (its heartbeat went stale), or ""."""
    beat, written = Path(run_dir) / HEARTBEAT_FILE, Path(run_dir) / STATUS_FILE
    try:
        last = beat.stat().st_mtime
    except OSError:
        last = written.stat().st_mtime if written.exists() else 0.0
    quiet = time.time() - last
    return f"its process stopped: no heartbeat for {quiet:.0f} s" if quiet > stale_seconds else ""


def write_atomic(path: Path, data: bytes | str, make_folder: bool = True) -> Path:
    """Write `data` to `path` so that no reader ever sees a partial file; a failed write leaves none behind
    (a full disk is a `DiskFullError` in words). `make_folder=False` for files of a folder that must already
    exist (a run's status and heartbeat: a deleted run folder is not made again, half, by its own job)."""
    if make_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")  # unique per writer
    try:
        partial.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(partial, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            partial.unlink()
        if error.errno in DISK_FULL:
            raise DiskFullError(error.errno, disk_full_message(path)) from None
        raise
    return path


def write_json(path: Path, value, make_folder: bool = True) -> Path:
    return write_atomic(path, json.dumps(value, indent=2, ensure_ascii=False, default=_jsonable), make_folder)


def save_keras(model, path: Path) -> Path:
    """Save a Keras model atomically (Keras needs the .keras suffix on the file it writes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.partial.keras")
    try:
        model.save(partial)
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        if error.errno in DISK_FULL:
            raise DiskFullError(error.errno, disk_full_message(path)) from None
        raise
    return path


def set_status(run_dir: Path, state: str, **details) -> None:
    """Write the run's status. On a full disk, where the atomic write finds no room for its second copy, the
    status is overwritten in place: a run must not stay "running" because the disk filled up."""
    path = Path(run_dir) / STATUS_FILE
    value = {"state": state, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")} | details
    try:
        write_json(path, value)
    except DiskFullError:
        if not path.is_file():
            raise
        with path.open("r+b") as handle:  # the old status's blocks are reused
            handle.write(json.dumps(value, ensure_ascii=False, default=_jsonable).encode())
            handle.truncate()


def read_json(path: Path) -> dict:
    """A JSON object this package wrote (written atomically, so whole or absent); {} if absent or not one."""
    try:
        found = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def status(run_dir: Path) -> dict:
    return read_json(run_dir / STATUS_FILE) or {"state": "unknown"}


def all_runs(workspace: Path) -> list[dict]:
    """Every run under `workspace/runs`, newest first: {"run", "state", "detail", "updated", "run_dir"}."""
    rows = []
    for run_dir in sorted((Path(workspace) / "runs").glob("*/"), key=_started, reverse=True):
        found = state(run_dir)
        detail = status(run_dir)
        why = detail.get("error") or detail.get("reason", "")
        why = why or (interruption(run_dir) if found == "interrupted" else "")
        rows.append({"run": run_dir.name, "state": found, "detail": why,
                     "updated": detail.get("updated", ""), "run_dir": run_dir})
    return rows


def _started(run_dir: Path) -> float:
    request = run_dir / REQUEST_FILE
    return (request if request.is_file() else run_dir).stat().st_mtime


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
