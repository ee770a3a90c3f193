"""Hostile and malformed input, through the API and the CLI: the server makes every path, limits hold
while reading, faults end in one clear line, and nothing half-written looks whole.

Each case is built here; the README's table of hostile cases names the test that covers it.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.test_data import classes, image_bytes, make_zip
from tlcore import workspaces
from tlcore.cli import main
from tlcore.data import import_data
from tlcore.data.archive import unpack_zip
from tlcore.errors import DataError, UnsafeArchiveError
from tlcore.image.data import import_dataset
from tlcore.uploads import store_upload


def one_line_error(capsys, argv: list[str], expected: str) -> str:
    """Run the CLI; it must refuse with exit 2 and exactly one line `error: ...` naming `expected`."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert expected in err, err
    return err


# --- the client never chooses a server path ---------------------------------------------------------


@pytest.mark.parametrize("client_name", ["/etc/passwd.csv", "../../../victim.csv", "..\\..\\victim.csv",
                                         "C:\\data\\victim.csv", "vic\x00tim\n.csv"])
def test_an_upload_is_stored_under_a_name_the_server_makes(tmp_path, client_name):
    workspace = tmp_path / "a" / "b" / "ws"
    victim = tmp_path / "a" / "victim.csv"
    victim.parent.mkdir(parents=True)
    victim.write_bytes(b"text,label\nkeep me,x\n")
    data = b"text,label\nhello there,greeting\n"
    upload = store_upload(workspace, client_name, data)
    assert upload.path.parent == workspace / "uploads" and upload.path.read_bytes() == data
    assert upload.path.name.endswith(".csv") and len(upload.path.stem) == 32
    assert not {"/", "\\", "\x00", "\n"} & set(upload.name) and upload.name.endswith(".csv")
    assert victim.read_bytes() == b"text,label\nkeep me,x\n"
    assert {p for p in tmp_path.rglob("*") if p.is_file()} == {victim, upload.path,
                                                               upload.path.with_suffix(".json")}


def test_an_upload_of_an_unknown_kind_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"'run\.sh' is not a kind of file.*\.zip, \.csv"):
        store_upload(tmp_path, "run.sh", b"#!/bin/sh\n")
    assert not (tmp_path / "uploads").exists() or not list((tmp_path / "uploads").iterdir())


def test_an_upload_is_imported_from_its_own_bytes_never_a_server_file_of_the_same_size(tmp_path):
    """The old page skipped the write when a file of the same size sat at the client's path."""
    workspace = tmp_path / "ws"
    good = "".join(f"message number {i} about cats,cats\nmessage number {i} about dogs,dogs\n" for i in range(10))
    planted = good.replace("cats", "evil")
    (workspace / "uploads").mkdir(parents=True)
    (workspace / "uploads" / "data.csv").write_text("text,label\n" + planted)
    upload = store_upload(workspace, "data.csv", ("text,label\n" + good).encode())
    dataset = import_data(upload.path, workspace, name=upload.name)
    assert dataset.classes == ("cats", "dogs") and dataset.source == "data"


def test_workspace_ids_are_made_by_the_server_only(tmp_path):
    ws_id, folder = workspaces.create()
    assert len(ws_id) == 32 and int(ws_id, 16) >= 0 and folder.is_dir()  # 128 random bits
    assert workspaces.open_workspace(ws_id) == folder
    planted = "0000000000000000000000000000ab12"
    for bad in ("0000000000ab", planted, "../../etc", "", ws_id.upper()):
        with pytest.raises(workspaces.WorkspaceError, match="new workspace was opened"):
            workspaces.open_workspace(bad)
    assert not (workspaces.root() / planted).exists() and not (workspaces.root() / "0000000000ab").exists()
    assert workspaces.create()[0] != ws_id


# --- zip limits that hold while reading -----------------------------------------------------------------


def test_many_mid_size_entries_are_refused_by_every_entry_ratio(tmp_path):
    """1,000 entries of 1 MiB of zeros passed the old ratio check (only entries over 1 MiB)."""
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(200):
            zf.writestr(f"cats/{i}.bmp", bytes(1024**2))
    assert archive.stat().st_size < 1024**2
    with pytest.raises(UnsafeArchiveError, match=r"compressed .* to 1.*max_ratio"):
        import_dataset(archive, tmp_path / "ws")
    assert not list((tmp_path / "ws").rglob("*.bmp"))


def test_small_entries_that_add_up_are_refused_by_the_whole_archive_ratio(tmp_path):
    archive = tmp_path / "small.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(300):
            zf.writestr(f"c/{i}.bmp", bytes(60 * 1024))  # each under the per-entry slack
    with pytest.raises(UnsafeArchiveError, match=r"as a whole is compressed .* to 1"):
        unpack_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_small_solid_images_and_short_texts_still_pass(tmp_path):
    solid = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(solid, "BMP")  # 12 KB that packs to ~100 bytes
    entries = classes() | {"cats/solid.bmp": solid.getvalue(), "dogs/solid.bmp": solid.getvalue()[:-3] + b"abc"}
    dataset = import_dataset(make_zip(tmp_path / "ok.zip", entries), tmp_path / "ws")
    assert len(dataset) == 10


@pytest.mark.parametrize("entries, expected", [
    ({"cats/" + "x" * 300 + ".jpg": b"1"}, r"name is too long .*limits are 255"),
    ({"cats/" + "/".join(["d" * 200] * 30) + "/a.jpg": b"1"}, r"name is too long"),
    ({"cats/a.jpg": b"1", "cats/a.jpg/b.jpg": b"2"}, r"'cats/a\.jpg' both as a file and as a folder"),
])
def test_names_no_file_system_can_hold_are_refused_in_words(tmp_path, capsys, entries, expected):
    archive = make_zip(tmp_path / "names.zip", classes() | {k: image_bytes() for k in entries})
    with pytest.raises(UnsafeArchiveError, match=expected):
        import_dataset(archive, tmp_path / "ws")
    assert not list((tmp_path / "ws").rglob("*.jpg"))  # nothing half-unpacked is left behind
    one_line_error(capsys, ["inspect", str(archive), "--no-features", "--workspace", str(tmp_path / "ws")], "zip")


def test_a_bundle_whose_model_inflates_is_refused_before_loading(tmp_path, monkeypatch):
    import keras

    from tlcore.export import BUNDLE_FORMAT
    from tlcore.predict import BundleError, load_bundle

    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"format": BUNDLE_FORMAT, "transferlab": "0.1.0",
                                                      "keras": "3", "tensorflow": "2"}))
    (folder / "labels.json").write_text('["a", "b"]')
    with zipfile.ZipFile(folder / "model.keras", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", "{}")
        with zf.open("model.weights.h5", "w") as sink:
            for _ in range(64):
                sink.write(bytes(1024**2))  # 64 MB of zeros packed into ~64 KB
    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before its size was checked")

    monkeypatch.setattr(keras.saving, "load_model", never)  # refused from the zip's directory, not after loading
    with pytest.raises(BundleError, match=r"declares 67 MB of content.*refused unread"):
        load_bundle(folder)


def test_a_deeply_nested_labels_file_is_a_bundle_error(tmp_path, capsys):
    from tlcore.predict import BundleError, load_bundle

    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "manifest.json").write_text("{}")
    (folder / "labels.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "model.keras").write_bytes(b"")
    with pytest.raises(BundleError, match=r"not valid JSON \(RecursionError"):
        load_bundle(folder)
    one_line_error(capsys, ["predict", str(folder), str(folder / "labels.json")], "RecursionError")


# --- imports are atomic and isolated --------------------------------------------------------------------


def _import_count(args) -> tuple[int, tuple[str, ...], int]:
    """(images in the dataset, its classes, image files under its root), from another process."""
    archive, workspace = args
    dataset = import_dataset(archive, Path(workspace))
    return len(dataset), dataset.classes, len(list(Path(dataset.root).rglob("*.jpg")))


def test_parallel_imports_of_one_zip_agree(tmp_path):
    """Two processes import the same zip into one workspace at once, 12 times over: every import is whole."""
    archive = make_zip(tmp_path / "same.zip", classes(("ants", "bees", "wasps"), per_class=8))
    with ProcessPoolExecutor(max_workers=2) as pool:
        for round_ in range(12):
            workspace = tmp_path / f"ws{round_}"
            results = list(pool.map(_import_count, [(archive, workspace)] * 2))
            assert results == [(24, ("ants", "bees", "wasps"), 24)] * 2
            assert [p.name.startswith(".partial") for p in (workspace / "datasets").iterdir()] == [False]


def test_importing_the_same_data_again_reads_what_is_stored(tmp_path):
    archive = make_zip(tmp_path / "same.zip", classes())
    first = import_dataset(archive, tmp_path / "ws")
    again = import_dataset(archive, tmp_path / "ws")
    assert again.split_hash() == first.split_hash() and again.root == first.root
    other = make_zip(tmp_path / "same.zip", classes(per_class=5))  # same name, other content: its own dataset
    assert len(import_dataset(other, tmp_path / "ws")) == 10
    assert len(list((tmp_path / "ws" / "datasets").iterdir())) == 2


# --- inputs that could exhaust the machine --------------------------------------------------------------


def test_a_device_is_refused_before_any_read(tmp_path, capsys):
    started = time.monotonic()
    one_line_error(capsys, ["inspect", "/dev/zero", "--no-features", "--workspace", str(tmp_path)],
                   "not a regular file or folder")
    one_line_error(capsys, ["predict", "/dev/zero", "x.jpg"], "no such bundle (or not a regular file)")
    assert time.monotonic() - started < 10


def test_a_utf16_table_is_read_as_utf16(tmp_path):
    rows = "".join(f"Nachricht Nummer {i} über Katzen\tkatze\nmessage {i} about dogs\tdog\n" for i in range(8))
    path = tmp_path / "utf16.tsv"
    path.write_bytes(("text\tlabel\n" + rows).encode("utf-16"))  # with its BOM
    dataset = import_data(path, tmp_path / "ws")
    assert dataset.classes == ("dog", "katze") and "über" in " ".join(dataset.texts())
    assert not any("UTF-8" in note for note in dataset.notes)


def test_a_long_text_file_is_cut_not_refused(tmp_path):
    from tlcore.text.data import MAX_TEXT_CHARS

    entries = {f"{c}/{i}.txt": f"a short {c} text number {i}".encode() for c in ("pos", "neg") for i in range(6)}
    words = np.random.default_rng(0).choice(["cat", "dog", "sun", "rain", "blue", "tree", "road"], 220_000)
    entries["pos/long.txt"] = " ".join(words).encode()  # about 1 MB of text that packs as text does
    dataset = import_data(make_zip(tmp_path / "texts.zip", entries), tmp_path / "ws")
    assert len(dataset) == 13 and max(map(len, dataset.texts())) == MAX_TEXT_CHARS
    assert any("were cut" in note for note in dataset.notes)


def test_a_table_over_the_limit_is_refused_while_reading(tmp_path, monkeypatch):
    from tlcore.text import data as text_data

    monkeypatch.setattr(text_data, "MAX_TABLE_BYTES", 1000)
    path = tmp_path / "big.csv"
    path.write_text("text,label\n" + "a fine text,x\n" * 200)
    with pytest.raises(DataError, match=r"big\.csv is larger than the limit"):
        import_data(path, tmp_path / "ws")


# --- damaged caches heal -------------------------------------------------------------------------------


def test_a_damaged_feature_cache_is_removed_and_recomputed(tmp_path, backbone):
    from tlcore.image.extract import extract_features

    images = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    first = extract_features(images, backbone, cache_dir=tmp_path)
    (cached,) = tmp_path.glob("*.npz")
    notes: list[str] = []
    for damage in (b"PK\x03\x04 not really a zip", cached.read_bytes()[:100]):
        cached.write_bytes(damage)
        notes.clear()
        again = extract_features(images, backbone, cache_dir=tmp_path, progress=lambda p: notes.append(p.message))
        assert not again.from_cache and np.allclose(again.features, first.features, atol=1e-5)
        assert any("was damaged" in n and str(cached) in n for n in notes)
        assert extract_features(images, backbone, cache_dir=tmp_path).from_cache  # healed for next time


def test_a_cache_file_with_the_wrong_rows_is_not_trusted(tmp_path):
    from tlcore.cache import read_arrays, write_arrays

    path = tmp_path / "x.npz"
    write_arrays(path, features=np.zeros((4, 2)))
    assert read_arrays(path, ("features",), 4)[0]["features"].shape == (4, 2)
    stored, note = read_arrays(path, ("features",), 5)
    assert stored is None and "damaged" in note and not path.exists()


# --- numbers and settings are checked where they enter ------------------------------------------------


@pytest.mark.parametrize("argv, expected", [
    (["predict", "b.zip", "x.jpg", "--top", "0"], "--top: expected a whole number of at least 1; got '0'"),
    (["train", "sample:shapes", "--image-size", "-5"], "--image-size: expected an image side in pixels"),
    (["train", "sample:shapes", "--budget-seconds", "nan"], "--budget-seconds: expected a number of seconds"),
    (["train", "sample:shapes", "--budget-seconds", "inf"], "--budget-seconds"),
    (["train", "sample:shapes", "--trials", "1.5"], "--trials"),
    (["train", "sample:shapes", "--learning-rate", "-1"], "--learning-rate"),
    (["train", "sample:shapes", "--resume", "../../x"], "a run id is a plain name"),
    (["train", "sample:shapes", "--resume", "/tmp/x"], "a run id is a plain name"),
    (["imagenet", "x.jpg", "--top", "-3"], "--top"),
])
def test_bad_numbers_and_ids_are_one_line_errors(tmp_path, capsys, argv, expected):
    if argv[0] == "train":
        argv = [*argv, "--workspace", str(tmp_path), "--budget-seconds" if "--budget-seconds" not in argv else "--seed",
                "5" if "--budget-seconds" not in argv else "0"]
    try:
        code = main(argv)
    except SystemExit as stopped:  # argparse refuses before any command runs
        code = stopped.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_predict_top_is_checked_by_the_library_too(tmp_path):
    from tlcore.errors import SettingError
    from tlcore.predict import check_top

    with pytest.raises(SettingError, match="at least 1; got 0"):
        check_top(0)


def test_an_unexpected_error_is_one_line_with_its_log(monkeypatch, capsys):
    from tlcore import cli

    def broken(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli, "_zoo", broken)
    assert main(["zoo"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected ZeroDivisionError" in err and "Traceback" not in err
    log = Path(err.rsplit("details in ", 1)[1].rstrip(")\n"))
    assert "ZeroDivisionError" in log.read_text()


def test_the_stored_csv_of_an_upload_keeps_its_display_name(tmp_path):
    upload = store_upload(tmp_path, "../../My Reviews.csv", io.BytesIO(b"x").getvalue())
    assert upload.name == "My Reviews.csv"
    assert json.loads(upload.path.with_suffix(".json").read_text())["name"] == "My Reviews.csv"


@pytest.mark.slow
def test_kill_9_during_train_leaves_a_run_that_reads_interrupted(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO
    from tlcore import runs

    process = subprocess.Popen([sys.executable, "-m", "tlcore", "train", "sample:shapes", "--workspace", str(tmp_path),
                                "--run-id", "doomed", "--budget-seconds", "300", "--image-size", "64"],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_dir = tmp_path / "runs" / "doomed"
    deadline = time.monotonic() + 120
    while not (run_dir / runs.HEARTBEAT_FILE).is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert runs.state(run_dir) == "running"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(1.5)
    assert runs.status(run_dir)["state"] == "running"  # nobody could write anything at the kill
    assert runs.state(run_dir, stale_seconds=1) == "interrupted"
    old = time.time() - 2 * runs.STALE_SECONDS
    os.utime(run_dir / runs.HEARTBEAT_FILE, (old, old))  # as later on: nothing has beaten since
    assert runs.all_runs(tmp_path)[0]["state"] == "interrupted"
    assert runs.status(run_dir)["state"] == "running"  # read, never rewritten by the listing


def test_sessions_writing_a_sample_at_once_all_get_it_whole(tmp_path, monkeypatch):
    """Two browser sessions of one server process wrote the sample into one partial folder and one lost."""
    from concurrent.futures import ThreadPoolExecutor

    from tlcore.samples import sample_path

    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path / "home"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        folders = list(pool.map(lambda _: sample_path("shapes"), range(4)))
    assert len(set(folders)) == 1 and len(list(folders[0].rglob("*.png"))) == 180
    assert not list((tmp_path / "home" / "samples").glob("*.partial"))
