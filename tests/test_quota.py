"""Fair shares of a served TransferLab (issue 39): a quota per workspace, free disk space kept, a few jobs per
workspace, idle workspaces removed, and the user's own deletions."""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections import namedtuple
from pathlib import Path

import pytest

from tlcore import quota, runs, uploads, workspaces
from tlcore.errors import SettingError
from tlcore.quota import DiskFullError, QuotaError, Shares

MB = quota.MB
DiskUsage = namedtuple("DiskUsage", "total used free")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A TransferLab home of its own, with settings from a clean environment."""
    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path / "home"))
    for name in (quota.QUOTA_ENV, quota.MIN_FREE_ENV, quota.JOBS_ENV, quota.IDLE_DAYS_ENV):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_settings_come_from_the_environment_with_defaults(home, monkeypatch):
    shares = Shares.from_env()
    low, high = quota.QUOTA_RANGE_MB
    assert low <= shares.quota_mb <= high
    assert (shares.jobs_per_workspace, shares.idle_days, shares.min_free_mb) == (3, 30.0, 512)
    monkeypatch.setenv(quota.QUOTA_ENV, "250")
    monkeypatch.setenv(quota.JOBS_ENV, "1")
    monkeypatch.setenv(quota.IDLE_DAYS_ENV, "never")
    monkeypatch.setenv(quota.MIN_FREE_ENV, "0")
    assert Shares.from_env() == Shares(250.0, 0.0, 1, None)
    monkeypatch.setenv(quota.QUOTA_ENV, "lots")
    with pytest.raises(SettingError, match=r"TRANSFERLAB_QUOTA_MB='lots' is not a number of megabytes .*e\.g\. 4096"):
        Shares.from_env()
    monkeypatch.setenv(quota.QUOTA_ENV, "100")
    monkeypatch.setenv(quota.JOBS_ENV, "0")
    with pytest.raises(SettingError, match="TRANSFERLAB_JOBS_PER_WORKSPACE='0'"):
        Shares.from_env()


def test_the_default_quota_follows_the_disk(home, monkeypatch):
    monkeypatch.setattr(quota.shutil, "disk_usage", lambda path: DiskUsage(100 * 1024 * MB, 0, 100 * 1024 * MB))
    assert quota.default_quota_mb() == 10 * 1024  # a tenth of a 100 GB disk
    monkeypatch.setattr(quota.shutil, "disk_usage", lambda path: DiskUsage(8 * 1024 * MB, 0, 8 * 1024 * MB))
    assert quota.default_quota_mb() == 2048  # never below what the largest upload and its dataset take


def test_usage_counts_each_item_the_user_may_delete(home):
    _, ws = workspaces.create()
    (ws / "datasets" / "flowers-ab12").mkdir(parents=True)
    (ws / "datasets" / "flowers-ab12" / "dataset.json").write_text('{"source": "flowers.zip"}', encoding="utf-8")
    (ws / "datasets" / "flowers-ab12" / "dataset.csv").write_bytes(b"x" * 300_000)
    upload = uploads.store_upload(ws, "flowers.zip", b"z" * 100_000)
    runs.set_status(ws / "runs" / "20260101-000000-abcd", "complete")
    found = quota.usage(ws, Shares(quota_mb=10))
    kinds = {(item.kind, item.label) for item in found.items}
    assert kinds == {("datasets", "flowers.zip"), ("uploads", "flowers.zip"), ("runs", "complete")}
    by_kind = {item.kind: item for item in found.items}
    assert by_kind["datasets"].bytes >= 300_000 and by_kind["uploads"].bytes >= 100_000
    assert by_kind["uploads"].name == upload.path.name
    assert found.total_bytes >= sum(item.bytes for item in found.items)
    assert found.quota_bytes == 10 * MB and 0 < found.fraction < 1
    sentence = quota.usage_sentence(ws, Shares(quota_mb=10))
    assert sentence.startswith("This workspace uses ") and "of its 10.0 MB" in sentence and "30 days" in sentence


def test_an_upload_over_the_quota_is_refused_and_the_data_kept(home):
    _, ws = workspaces.create()
    shares = Shares(quota_mb=1, min_free_mb=0)
    first = uploads.store_upload(ws, "first.csv", b"text,label\n" + b"a,b\n" * 100_000)  # 400 KB: within 1 MB
    before = files_under(ws)
    os.environ[quota.QUOTA_ENV] = "1"
    try:
        with pytest.raises(QuotaError) as refused:
            uploads.store_upload(ws, "second.csv", b"text,label\n" + b"c,d\n" * 200_000)  # 800 KB more
    finally:
        del os.environ[quota.QUOTA_ENV]
    message = str(refused.value)
    assert "'second.csv'" in message and "over its quota of 1.0 MB" in message
    assert "delete a dataset or a run" in message
    assert files_under(ws) == before and first.path.read_bytes().startswith(b"text,label\n")  # nothing written
    with pytest.raises(QuotaError):
        quota.check_can_write(ws, 800_000, shares=shares)
    quota.check_can_write(ws, 100_000, shares=shares)  # what still fits is let through


def test_the_same_upload_again_needs_no_room(home, monkeypatch):
    _, ws = workspaces.create()
    data = b"text,label\n" + b"a,b\n" * 1000
    uploads.store_upload(ws, "mine.csv", data)
    monkeypatch.setenv(quota.QUOTA_ENV, "1")
    monkeypatch.setattr(quota.shutil, "disk_usage", lambda path: DiskUsage(10 * MB, 10 * MB, 0))
    again = uploads.store_upload(ws, "renamed.csv", data)  # already stored: only its name is written
    assert again.name == "renamed.csv"


def test_a_nearly_full_disk_refuses_an_upload_before_writing(home, monkeypatch):
    _, ws = workspaces.create()
    monkeypatch.setattr(quota.shutil, "disk_usage", lambda path: DiskUsage(100 * 1024 * MB, 0, 600 * MB))
    with pytest.raises(DiskFullError) as refused:
        uploads.store_upload(ws, "big.zip", b"\0" * (200 * MB))  # 600 MB free - 200 MB < 512 MB kept free
    message = str(refused.value)
    assert "600.0 MB free, the upload 'big.zip' (200.0 MB) would leave less than the 512.0 MB that must stay free" \
        in message
    assert not (ws / "uploads").exists()
    monkeypatch.setattr(quota.shutil, "disk_usage", lambda path: DiskUsage(100 * 1024 * MB, 0, 300 * MB))
    with pytest.raises(DiskFullError, match=r"300\.0 MB free, less than the 512\.0 MB that must stay free "
                                            r".*, so a new job cannot go ahead"):
        quota.check_can_submit(ws)  # nor is a job queued with less than the spare space left
    monkeypatch.setattr(quota.shutil, "disk_usage", lambda path: DiskUsage(100 * 1024 * MB, 0, 2048 * MB))
    quota.check_can_submit(ws)


def test_a_disk_that_fills_during_the_write_leaves_nothing_half_written(home, monkeypatch):
    _, ws = workspaces.create()
    real_open = uploads._open_partial

    class FillsUp:
        """A file that takes a first chunk, then finds the disk full (ENOSPC)."""

        def __init__(self, path):
            self.file = real_open(path)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            self.file.write(data[:4096])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(uploads, "_open_partial", FillsUp)
    with pytest.raises(DiskFullError, match=r"disk filled up while the upload was being saved.*nothing was kept"):
        uploads.store_upload(ws, "data.csv", b"text,label\n" + b"a,b\n" * 10_000)
    assert files_under(ws / "uploads") == []  # no partial file, no sidecar


def test_a_workspace_may_have_a_few_jobs_and_another_still_submits(home):
    _, mine = workspaces.create()
    _, other = workspaces.create()
    shares = Shares(quota_mb=100, min_free_mb=0, jobs_per_workspace=2)
    runs.set_status(mine / "runs" / "20260101-000000-aaaa", "running")
    runs.Heartbeat(mine / "runs" / "20260101-000000-aaaa").path.write_text("", encoding="utf-8")  # a live one
    runs.set_status(mine / "analyses" / "20260101-000001-bbbb", "queued")
    runs.set_status(mine / "runs" / "20260101-000002-cccc", "complete")
    with pytest.raises(QuotaError) as refused:
        quota.check_can_submit(mine, shares)
    message = str(refused.value)
    assert "already has 2 jobs queued or running" in message and "run 20260101-000000-aaaa" in message
    assert "analysis 20260101-000001-bbbb" in message and "cancel one on the Runs page" in message
    quota.check_can_submit(other, shares)  # another workspace is not held up
    runs.set_status(mine / "analyses" / "20260101-000001-bbbb", "cancelled")
    quota.check_can_submit(mine, shares)  # one finished: the next may go


def test_a_run_whose_process_died_does_not_hold_a_place(home):
    _, ws = workspaces.create()
    run = ws / "runs" / "20260101-000000-dead"
    runs.set_status(run, "running")
    old = time.time() - 3600
    os.utime(run / runs.STATUS_FILE, (old, old))  # no heartbeat for an hour
    quota.check_can_submit(ws, Shares(quota_mb=100, min_free_mb=0, jobs_per_workspace=1))
    assert runs.state(run) == "interrupted"


def test_a_workspace_over_its_quota_submits_no_job(home):
    _, ws = workspaces.create()
    (ws / "datasets" / "big").mkdir(parents=True)
    (ws / "datasets" / "big" / "dataset.csv").write_bytes(b"x" * (2 * MB))
    with pytest.raises(QuotaError, match=r"holds 2\.0 MB already, over its quota of 1\.0 MB, so a new job cannot "
                                         r"start; delete a dataset or a run"):
        quota.check_can_submit(ws, Shares(quota_mb=1, min_free_mb=0))
    assert (ws / "datasets" / "big" / "dataset.csv").stat().st_size == 2 * MB


def test_an_import_over_the_quota_is_refused_before_it_is_moved_into_place(home, monkeypatch):
    _, ws = workspaces.create()
    (ws / "datasets" / "kept").mkdir(parents=True)
    (ws / "datasets" / "kept" / "dataset.csv").write_bytes(b"x" * 300_000)
    built = ws / "datasets" / ".partial-0123"  # where tlcore.data.store builds an import
    built.mkdir()
    (built / "images.bin").write_bytes(b"x" * 900_000)
    with pytest.raises(QuotaError) as refused:
        quota.check_import(ws, built, Shares(quota_mb=1, min_free_mb=0))
    assert str(refused.value).startswith("the imported dataset (") and "over its quota of 1.0 MB" in str(refused.value)
    quota.check_import(ws, built, Shares(quota_mb=2, min_free_mb=0))
    monkeypatch.setattr(quota.shutil, "disk_usage", lambda path: DiskUsage(10 * 1024 * MB, 0, 100 * MB))
    with pytest.raises(DiskFullError, match="so the imported dataset cannot go ahead"):
        quota.check_import(ws, built, Shares(quota_mb=2))
    assert (ws / "datasets" / "kept" / "dataset.csv").stat().st_size == 300_000


def test_the_user_deletes_a_dataset_a_run_or_an_upload(home):
    _, ws = workspaces.create()
    data = ws / "datasets" / "shapes-1234"
    data.mkdir(parents=True)
    (data / "dataset.csv").write_bytes(b"x" * 50_000)
    run = ws / "runs" / "20260101-000000-aaaa"
    runs.set_status(run, "complete")
    upload = uploads.store_upload(ws, "shapes.zip", b"PK" * 1000)
    assert quota.delete_item(ws, "datasets", "shapes-1234") >= 50_000
    quota.delete_item(ws, "runs", run.name)
    quota.delete_item(ws, "uploads", upload.path.name)
    assert not data.exists() and not run.exists() and files_under(ws / "uploads") == []
    assert quota.usage(ws, Shares(quota_mb=10)).items == ()
    assert not list(ws.glob(".deleting-*"))
    with pytest.raises(QuotaError, match="no dataset 'shapes-1234'"):
        quota.delete_item(ws, "datasets", "shapes-1234")


def test_deleting_refuses_paths_and_work_in_progress(home):
    _, ws = workspaces.create()
    _, other = workspaces.create()
    (other / "datasets" / "theirs").mkdir(parents=True)
    for kind, name in [("datasets", "../../" + other.name), ("datasets", ".."), ("runs", "a/b"), ("uploads", ".x"),
                       ("sessions", "x"), ("datasets", "")]:
        with pytest.raises(QuotaError):
            quota.delete_item(ws, kind, name)
    assert (other / "datasets" / "theirs").is_dir()
    data = ws / "datasets" / "shapes-1234"
    data.mkdir(parents=True)
    run = ws / "runs" / "20260101-000000-aaaa"
    runs.set_status(run, "queued")
    runs.write_json(run / "job.json", {"kind": "training", "dataset": str(data)})
    with pytest.raises(QuotaError, match="is queued; cancel it first"):
        quota.delete_item(ws, "runs", run.name)
    with pytest.raises(QuotaError, match="read by the run 20260101-000000-aaaa"):
        quota.delete_item(ws, "datasets", data.name)
    assert run.is_dir() and data.is_dir()


def age(folder: Path, days: float) -> None:
    """Make everything under `folder` look untouched for `days`."""
    then = time.time() - days * 86400
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (then, then), follow_symlinks=False)


def test_idle_workspaces_are_removed_and_recent_ones_kept(home):
    _, old = workspaces.create()
    _, recent = workspaces.create()
    _, busy = workspaces.create()
    (old / "datasets" / "d").mkdir(parents=True)
    (old / "datasets" / "d" / "dataset.csv").write_bytes(b"x" * 200_000)
    runs.set_status(busy / "runs" / "20260101-000000-aaaa", "queued")
    age(old, 31)
    age(recent, 29)
    age(busy, 40)
    lines = []
    removed = quota.remove_idle_workspaces(Shares(quota_mb=100), log=lines.append)
    assert [r.workspace for r in removed] == [old.name] and removed[0].bytes >= 200_000
    assert not old.exists() and recent.is_dir() and busy.is_dir()
    assert len(lines) == 1 and old.name[:8] in lines[0] and "idle 31 days" in lines[0] and "KB freed" in lines[0]
    assert not list(workspaces.root().glob(".deleting-*"))
    assert quota.remove_idle_workspaces(Shares(quota_mb=100, idle_days=None), log=lines.append) == []


def test_opening_a_workspace_counts_as_using_it(home):
    ws_id, ws = workspaces.create()
    age(ws, 45)
    workspaces.open_workspace(ws_id)  # a visit, with nothing written
    assert quota.remove_idle_workspaces(Shares(quota_mb=100), log=lambda line: None) == []
    assert ws.is_dir()


def test_idle_cleanup_runs_at_most_once_an_hour(home):
    _, ws = workspaces.create()
    age(ws, 60)
    lines = []
    first = quota.maybe_remove_idle_workspaces(shares=Shares(quota_mb=100), log=lines.append)
    assert [r.workspace for r in first] == [ws.name]
    assert quota.maybe_remove_idle_workspaces(shares=Shares(quota_mb=100), log=lines.append) is None
    assert quota.maybe_remove_idle_workspaces(every_seconds=0, shares=Shares(quota_mb=100), log=lines.append) == []


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="mounting a small disk needs root")
def test_a_really_full_small_disk_leaves_no_partial_upload(tmp_path, home, monkeypatch):
    import subprocess

    disk = tmp_path / "small"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("tmpfs cannot be mounted here")
    try:
        monkeypatch.setattr(quota, "check_free_space", lambda *args, **kwargs: None)  # let the write find out
        ws = disk / "ws"
        with pytest.raises(DiskFullError, match="disk filled up"):
            uploads.store_upload(ws, "big.zip", b"\1" * (3 * MB))
        assert files_under(ws) == []
        with pytest.raises(DiskFullError):  # and without the monkeypatch the check refuses it first
            monkeypatch.undo()
            monkeypatch.setenv("TRANSFERLAB_HOME", str(home))
            uploads.store_upload(ws, "big.zip", b"\1" * (3 * MB))
    finally:
        subprocess.run(["umount", str(disk)], check=False)
