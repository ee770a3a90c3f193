"""Fair shares of one server: a disk quota per workspace, free disk space kept, a few jobs per workspace, and
workspaces nobody touched for weeks removed.

A served TransferLab belongs to everyone who can reach it, so one visitor must not fill its disk
or hold its workers. The settings come from the environment (`Shares.from_env`); the checks run
before anything is written or queued, so a refusal leaves the workspace as it was.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import stat
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import paths, runs, workspaces
from .environment import number
from .errors import TLCoreError

QUOTA_ENV = "TRANSFERLAB_QUOTA_MB"
MIN_FREE_ENV = "TRANSFERLAB_MIN_FREE_MB"
JOBS_ENV = "TRANSFERLAB_JOBS_PER_WORKSPACE"
IDLE_DAYS_ENV = "TRANSFERLAB_IDLE_DAYS"
MB = 2**20  # as Streamlit's server.maxUploadSize counts
QUOTA_SHARE = 0.10  # default quota: a tenth of the disk holding $TRANSFERLAB_HOME ...
QUOTA_RANGE_MB = (2048, 20480)  # ... within 2-20 GB (2 GB holds the largest upload, 1 GB, and its unpacked dataset)
DEFAULT_MIN_FREE_MB = 512
DEFAULT_JOBS = 3
DEFAULT_IDLE_DAYS = 30.0
KINDS = ("datasets", "runs", "analyses", "uploads")  # what a user may see and delete in a workspace
UNFINISHED = ("queued", "running")
NOUNS = {"datasets": "dataset", "runs": "run", "analyses": "analysis", "uploads": "upload"}
CLEANUP_EVERY_SECONDS = 3600.0
_TRASH = ".deleting-"


class QuotaError(TLCoreError):
    """A workspace over its disk quota or its number of jobs, or an item that cannot be deleted."""


class DiskFullError(QuotaError):
    """Too little free space on the server's disk for what was asked."""


# --- settings ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shares:
    """How much one workspace may hold and queue, and how long idle work is kept (`idle_days` None: forever)."""

    quota_mb: float
    min_free_mb: float = DEFAULT_MIN_FREE_MB
    jobs_per_workspace: int = DEFAULT_JOBS
    idle_days: float | None = DEFAULT_IDLE_DAYS

    @property
    def quota_bytes(self) -> int:
        return int(self.quota_mb * MB)

    @property
    def min_free_bytes(self) -> int:
        return int(self.min_free_mb * MB)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Shares:
        """The settings from `$TRANSFERLAB_QUOTA_MB`, `$TRANSFERLAB_MIN_FREE_MB`, `$TRANSFERLAB_JOBS_PER_WORKSPACE`
        and `$TRANSFERLAB_IDLE_DAYS` (`never` keeps idle work), each with its default when unset."""
        idle = environ.get(IDLE_DAYS_ENV, "").strip()
        return cls(quota_mb=number(QUOTA_ENV, "a number of megabytes", float, default_quota_mb, "4096",
                                   environ=environ),
                   min_free_mb=number(MIN_FREE_ENV, "a number of megabytes", float, lambda: DEFAULT_MIN_FREE_MB,
                                      "512", low=0, environ=environ),
                   jobs_per_workspace=number(JOBS_ENV, "a whole number of jobs", int, lambda: DEFAULT_JOBS, "3",
                                             environ=environ),
                   idle_days=None if idle.lower() == "never" else
                   number(IDLE_DAYS_ENV, "a number of days", float, lambda: DEFAULT_IDLE_DAYS, "30 (or never)",
                          environ=environ))


def default_quota_mb() -> float:
    """A tenth of the disk that holds TransferLab's home, within `QUOTA_RANGE_MB`."""
    low, high = QUOTA_RANGE_MB
    try:
        total = shutil.disk_usage(_existing(paths.home())).total
    except OSError:
        return float(low)
    return float(min(max(total * QUOTA_SHARE / MB, low), high))


def _existing(path: Path) -> Path:
    """`path`, or its nearest existing parent (the disk it will be on)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


# --- how much a workspace holds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One thing a workspace holds that its user may delete: a dataset, a run, an analysis, an upload."""

    kind: str  # one of KINDS
    name: str  # its folder (or file) name under `kind`
    bytes: int
    label: str  # what the user knows it by: the dataset's source, the upload's file name, the job's state
    modified: float


@dataclass(frozen=True)
class Usage:
    total_bytes: int
    quota_bytes: int
    items: tuple[Item, ...]

    @property
    def fraction(self) -> float:
        return self.total_bytes / self.quota_bytes if self.quota_bytes else 0.0


def size_words(size: float) -> str:
    """`size` bytes in a few characters: 812 KB, 35.2 MB, 1.4 GB."""
    for unit, scale in (("GB", MB * 1024), ("MB", MB)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{max(size, 0) / 1024:.0f} KB"


def disk_use(path: Path) -> tuple[int, float]:
    """(bytes on disk, newest modification time) of everything under `path`; links are not followed, and a
    file with several hard links is counted once."""
    total, newest, seen = 0, 0.0, set()
    todo = [Path(path)]
    while todo:
        folder = todo.pop()
        try:
            info = folder.lstat()
            entries = list(os.scandir(folder)) if folder.is_dir() and not folder.is_symlink() else []
        except OSError:
            continue  # vanished or unreadable while we looked
        total += _allocated(info, seen)
        newest = max(newest, info.st_mtime)
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    todo.append(Path(entry.path))
                    continue
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += _allocated(info, seen)
            newest = max(newest, info.st_mtime)
    return total, newest


def _allocated(info: os.stat_result, seen: set) -> int:
    if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):  # count a hard-linked file once
        key = (info.st_dev, info.st_ino)
        if key in seen:
            return 0
        seen.add(key)
    blocks = getattr(info, "st_blocks", None)
    return blocks * 512 if blocks is not None else info.st_size


def usage(workspace: Path, shares: Shares | None = None) -> Usage:
    """What `workspace` holds in all and item by item (datasets, runs, analyses, uploads), newest first."""
    shares = shares or Shares.from_env()
    workspace = Path(workspace)
    items = []
    for kind in KINDS:
        folder = workspace / kind
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name.startswith(".") or (kind == "uploads" and path.suffix == ".json"):
                continue
            size, modified = disk_use(path)
            if kind == "uploads":
                sidecar = path.with_suffix(".json")
                size += disk_use(sidecar)[0] if sidecar.exists() else 0
            items.append(Item(kind, path.name, size, _label(kind, path), modified))
    total = disk_use(workspace)[0] if workspace.exists() else 0
    return Usage(total, shares.quota_bytes, tuple(sorted(items, key=lambda i: i.modified, reverse=True)))


def _label(kind: str, path: Path) -> str:
    if kind == "datasets":
        return str(runs.read_json(path / "dataset.json").get("source", "")) or "unfinished import"
    if kind == "uploads":
        return str(runs.read_json(path.with_suffix(".json")).get("name", "")) or path.name
    return runs.status(path).get("state", "unknown")


def usage_sentence(workspace: Path, shares: Shares | None = None) -> str:
    """One line for the page: how much of its quota the workspace uses, and how long idle work is kept."""
    shares = shares or Shares.from_env()
    found = usage(workspace, shares)
    kept = "Work is kept until you delete it." if shares.idle_days is None else \
        f"A workspace nobody opens or changes for {shares.idle_days:g} days is removed."
    return f"This workspace uses {size_words(found.total_bytes)} of its {size_words(found.quota_bytes)} " \
           f"({found.fraction:.0%}). {kept}"


# --- checks before writing or queueing --------------------------------------------------------------------------


def check_can_write(workspace: Path, incoming_bytes: int, what: str = "this upload",
                    shares: Shares | None = None) -> None:
    """Refuse (`QuotaError`, `DiskFullError`) before `incoming_bytes` more would take the workspace over its quota
    or the server's disk below its spare space; nothing is written either way."""
    shares = shares or Shares.from_env()
    used = disk_use(workspace)[0] if Path(workspace).exists() else 0
    if used + incoming_bytes > shares.quota_bytes:
        limit = f"over its quota of {size_words(shares.quota_bytes)}"
        if incoming_bytes:
            over = f"{what} ({size_words(incoming_bytes)}) would take this workspace to " \
                   f"{size_words(used + incoming_bytes)}, {limit}"
        else:
            over = f"this workspace holds {size_words(used)} already, {limit}, so {what} cannot start"
        raise QuotaError(f"{over}; delete a dataset or a run you no longer need (the server's {QUOTA_ENV} sets the "
                         "quota)")
    check_free_space(workspace, incoming_bytes, what, shares)


def check_import(workspace: Path, built: Path, shares: Shares | None = None) -> None:
    """Refuse (`QuotaError`, `DiskFullError`) a dataset just built in `built`, a private folder inside `workspace`,
    when it takes the workspace over its quota or the disk below its spare space. Call it before the folder is
    moved into place, and remove the folder on a refusal: the workspace is then as it was."""
    shares = shares or Shares.from_env()
    size = disk_use(built)[0]
    used = disk_use(workspace)[0]
    if used > shares.quota_bytes:
        raise QuotaError(f"the imported dataset ({size_words(size)}) takes this workspace to {size_words(used)}, "
                         f"over its quota of {size_words(shares.quota_bytes)}, so it was not kept; delete a dataset "
                         f"or a run you no longer need, or import fewer files (the server's {QUOTA_ENV} sets the "
                         "quota)")
    check_free_space(workspace, 0, "the imported dataset", shares)


def check_free_space(path: Path, incoming_bytes: int = 0, what: str = "this work",
                     shares: Shares | None = None) -> None:
    """Refuse (`DiskFullError`) when writing `incoming_bytes` at `path` would leave less than the spare space."""
    shares = shares or Shares.from_env()
    try:
        free = shutil.disk_usage(_existing(path)).free
    except OSError:
        return  # a disk that cannot be asked: the write itself will say
    if free - incoming_bytes < shares.min_free_bytes:
        short = f", {what} ({size_words(incoming_bytes)}) would leave less than the" if incoming_bytes else \
            ", less than the"
        after = "" if incoming_bytes else f", so {what} cannot go ahead"
        raise DiskFullError(f"the server's disk has {size_words(free)} free{short} "
                            f"{size_words(shares.min_free_bytes)} that must stay free ({MIN_FREE_ENV}){after}; ask "
                            "whoever runs the server to free space, or delete a dataset or run you no longer need")


def unfinished_jobs(workspace: Path) -> list[Path]:
    """The job folders (runs and analyses) of `workspace` that are queued or running, read without changing them."""
    found = []
    for kind in ("runs", "analyses"):
        folder = Path(workspace) / kind
        if folder.is_dir():
            found += [job for job in sorted(folder.iterdir())
                      if not job.name.startswith(".") and runs.status(job).get("state") in UNFINISHED]
    return found


def check_can_submit(workspace: Path, shares: Shares | None = None) -> None:
    """Refuse a new job (`QuotaError`, `DiskFullError`) from a workspace that already has as many queued or running
    jobs as one may, that is over its quota, or when the disk is nearly full; call it before anything is queued."""
    shares = shares or Shares.from_env()
    live = [job for job in unfinished_jobs(workspace) if runs.state(job) in UNFINISHED]  # a stale "running" is not
    if len(live) >= shares.jobs_per_workspace:
        names = ", ".join(f"{NOUNS[job.parent.name]} {job.name}" for job in live[:3])
        raise QuotaError(f"this workspace already has {len(live)} jobs queued or running ({names}), the most one "
                         f"workspace may have ({JOBS_ENV}={shares.jobs_per_workspace}); wait for one to finish, or "
                         "cancel one on the Runs page")
    check_can_write(workspace, 0, "a new job", shares)  # over the quota already, or the disk nearly full


# --- deleting ---------------------------------------------------------------------------------------------------


def delete_item(workspace: Path, kind: str, name: str) -> int:
    """Delete one dataset, run, analysis or upload of `workspace`; returns the bytes freed.

    The name is data: it must be a plain entry of `workspace/<kind>`. A queued or running job, and a
    dataset such a job reads, are refused (cancel the job first). The item is renamed away first, so
    no reader ever sees it half-deleted.
    """
    workspace = Path(workspace)
    if kind not in KINDS:
        raise QuotaError(f"expected one of {', '.join(KINDS)} to delete; got {kind!r}")
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name \
            or "\0" in name or name.startswith("."):
        raise QuotaError(f"expected the plain name of one of this workspace's {kind}; got {str(name)[:80]!r}")
    path = workspace / kind / name
    if not path.exists() or path.is_symlink() or (kind == "uploads" and path.suffix == ".json"):
        raise QuotaError(f"this workspace has no {NOUNS[kind]} {name!r} (deleted already?); reload the page")
    if kind in ("runs", "analyses") and runs.status(path).get("state") in UNFINISHED and runs.state(path) in UNFINISHED:
        raise QuotaError(f"{NOUNS[kind]} {name} is {runs.state(path)}; cancel it first, then delete it")
    if kind == "datasets":
        readers = [job for job in unfinished_jobs(workspace)
                   if Path(runs.read_json(job / "job.json").get("dataset", "")).name == name]
        if readers:
            raise QuotaError(f"dataset {name} is read by the {NOUNS[readers[0].parent.name]} {readers[0].name}, which "
                             "is queued or running; cancel it first, or wait for it to finish")
    freed = disk_use(path)[0]
    parts = [path] + ([path.with_suffix(".json")] if kind == "uploads" else [])
    for part in parts:
        if part.exists():
            _remove(part, workspace)
    _sweep_trash(workspace)
    return freed


def _remove(path: Path, trash_in: Path) -> None:
    """Rename `path` out of sight within `trash_in`, then delete it."""
    trash = trash_in / f"{_TRASH}{secrets.token_hex(8)}"
    os.rename(path, trash)
    if trash.is_dir():
        shutil.rmtree(trash, ignore_errors=True)
    else:
        trash.unlink(missing_ok=True)


def _sweep_trash(folder: Path) -> None:
    """Finish deletions an earlier process left half-done."""
    for left in Path(folder).glob(f"{_TRASH}*"):
        if left.is_dir() and not left.is_symlink():
            shutil.rmtree(left, ignore_errors=True)
        else:
            left.unlink(missing_ok=True)


# --- idle workspaces --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Removed:
    workspace: str
    bytes: int
    idle_days: float


def remove_idle_workspaces(shares: Shares | None = None, now: float | None = None,
                           log: Callable[[str], None] | None = None) -> list[Removed]:
    """Remove the browser workspaces (`tlcore.workspaces`) nothing was written to, and that no one opened, for
    `shares.idle_days`; one log line each with its size. A workspace with a queued or running job is kept."""
    shares = shares or Shares.from_env()
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    if shares.idle_days is None:
        return []
    now = time.time() if now is None else now
    root = workspaces.root()
    removed = []
    if not root.is_dir():
        return removed
    _sweep_trash(root)
    for folder in sorted(root.iterdir()):
        if not workspaces.is_workspace_id(folder.name) or folder.is_symlink() or not folder.is_dir():
            continue
        size, newest = disk_use(folder)
        idle_days = (now - newest) / 86400
        if idle_days < shares.idle_days or unfinished_jobs(folder):
            continue
        try:
            _remove(folder, root)
        except OSError as error:
            log(f"cleanup: workspace {folder.name[:8]}... idle {idle_days:.0f} days could not be removed "
                f"({error.strerror or error})")
            continue
        removed.append(Removed(folder.name, size, idle_days))
        log(f"cleanup: removed workspace {folder.name[:8]}..., idle {idle_days:.0f} days "
            f"(over {shares.idle_days:g}), {size_words(size)} freed")
    return removed


def maybe_remove_idle_workspaces(every_seconds: float = CLEANUP_EVERY_SECONDS, shares: Shares | None = None,
                                 log: Callable[[str], None] | None = None) -> list[Removed] | None:
    """`remove_idle_workspaces` at most once per `every_seconds` across every worker process sharing this home
    (a stamp file, under a lock); None when it was not yet time. Cheap enough to call on every heartbeat."""
    stamp = paths.home() / "cleanup.stamp"  # holds the time of the last cleanup
    with contextlib.suppress(OSError, ValueError):
        if time.time() - float(stamp.read_text(encoding="utf-8") or 0) < every_seconds:
            return None
    stamp.parent.mkdir(parents=True, exist_ok=True)
    with open(stamp, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES):
                return None  # another worker is cleaning now
            raise
        try:
            handle.seek(0)
            with contextlib.suppress(ValueError):
                if time.time() - float(handle.read() or 0) < every_seconds:
                    return None  # another worker finished just before us
            handle.seek(0)
            handle.truncate()
            handle.write(repr(time.time()))
            handle.flush()
            return remove_idle_workspaces(shares, log=log)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
