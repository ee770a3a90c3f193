"""Importing datasets: accepted layouts, hostile and malformed inputs, splits and their storage.

Every hostile input is built here, in the test; each ends in its documented outcome, and no
test may leave a file outside the workspace it gives the importer.
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_dataset
from tlcore.data import Dataset, ImportLimits, SplitConfig
from tlcore.data.splits import split_counts
from tlcore.errors import DataError, UnsafeArchiveError
from tlcore.image.data import import_dataset

_rng = np.random.default_rng(7)


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (48, 40), mode: str = "RGB") -> bytes:
    """A distinct noise image (never a duplicate of another) in `fmt`."""
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = _rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels.squeeze(), mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def make_zip(path: Path, entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def classes(names=("cats", "dogs"), per_class: int = 4, prefix: str = "") -> dict[str, bytes]:
    return {f"{prefix}{name}/{name}_{i}.jpg": image_bytes() for name in names for i in range(per_class)}


def files_outside(tmp_path: Path, workspace: Path) -> set[Path]:
    return {p for p in tmp_path.rglob("*") if workspace not in p.parents and p != workspace}


@pytest.fixture
def workspace(tmp_path) -> Path:
    return tmp_path / "workspace"


@pytest.fixture
def importer(tmp_path, workspace):
    """import_dataset that also checks nothing was written outside the workspace."""
    def run(source, **kwargs):
        before = files_outside(tmp_path, workspace)
        try:
            return import_dataset(source, workspace, **kwargs)
        finally:
            assert files_outside(tmp_path, workspace) == before, "the import wrote outside its workspace"

    return run


# --- hostile archives: refused before anything is written ---------------------------------------


def test_zip_slip_is_refused(tmp_path, importer):
    archive = make_zip(tmp_path / "slip.zip", {**classes(), "../evil.jpg": image_bytes()})
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./evil\.jpg'.*outside"):
        importer(archive)
    assert not list(tmp_path.rglob("evil.jpg"))


def test_absolute_and_windows_paths_are_refused(tmp_path, importer):
    for bad in ("/tmp/evil.jpg", "C:\\Windows\\evil.jpg", "cats\\..\\..\\evil.jpg"):
        archive = make_zip(tmp_path / "abs.zip", {**classes(), bad: image_bytes()})
        with pytest.raises(UnsafeArchiveError, match="outside"):
            importer(archive)


def test_symlink_entry_is_refused(tmp_path, importer):
    archive = make_zip(tmp_path / "link.zip", classes(), symlinks={"cats/passwd.jpg": "/etc/passwd"})
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        importer(archive)


def test_zip_bomb_is_refused_by_ratio(tmp_path, importer):
    archive = make_zip(tmp_path / "bomb.zip", {**classes(), "cats/bomb.bmp": bytes(50 * 1024**2)})
    assert archive.stat().st_size < 1024**2
    with pytest.raises(UnsafeArchiveError, match=r"compressed .* to 1.*max_ratio"):
        importer(archive)
    assert not (tmp_path / "workspace" / "datasets").exists() or not list((tmp_path / "workspace").rglob("*.bmp"))


def test_total_size_and_file_count_limits_are_quoted(tmp_path, importer):
    archive = make_zip(tmp_path / "big.zip", classes(per_class=6))
    with pytest.raises(UnsafeArchiveError, match=r"12 entries.*limit of 5.*max_files"):
        importer(archive, limits=ImportLimits(max_files=5))
    with pytest.raises(UnsafeArchiveError, match=r"max_total_bytes"):
        importer(archive, limits=ImportLimits(max_total_bytes=1000))


def test_header_that_lies_about_size_is_caught_while_unpacking(tmp_path, importer):
    """A zip whose directory declares a small size must not unpack more than that."""
    archive = make_zip(tmp_path / "liar.zip", {**classes(), "cats/liar.jpg": bytes(300_000)})
    data = bytearray(archive.read_bytes())
    entry = data.find(b"cats/liar.jpg", data.rfind(b"PK\x01\x02", 0, data.find(b"cats/liar.jpg", len(data) // 2)))
    header = data.rfind(b"PK\x01\x02", 0, entry)
    struct.pack_into("<I", data, header + 24, 1000)  # central directory: uncompressed size
    archive.write_bytes(bytes(data))
    with pytest.raises((UnsafeArchiveError, DataError)):
        importer(archive)
    assert not list(tmp_path.rglob("liar.jpg"))


def test_truncated_zip_says_to_upload_again(tmp_path, importer):
    archive = make_zip(tmp_path / "cut.zip", classes())
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError, match=r"not a readable zip.*upload it once more"):
        importer(archive)


def test_a_file_that_is_neither_zip_nor_folder(tmp_path, importer):
    (tmp_path / "data.rar").write_bytes(b"Rar!\x1a\x07\x00")
    with pytest.raises(DataError, match=r"neither a folder nor a \.zip"):
        importer(tmp_path / "data.rar")


# --- bad files: skipped with a reason, the import goes on ------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels: a valid signature and header, then almost nothing."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def test_bad_files_are_skipped_with_reasons(tmp_path, importer):
    jpeg = image_bytes()
    entries = {
        **classes(per_class=3),
        "cats/truncated.jpg": jpeg[: len(jpeg) // 2],
        "cats/empty.jpg": b"",
        "dogs/notes.jpg": b"these are my notes, not a picture",
        "dogs/huge.png": png_header_only(30_000, 30_000),
        "dogs/report.pdf": b"%PDF-1.4",
        "__MACOSX/cats/._cats_0.jpg": b"\x00\x05\x16\x07",
        "cats/.DS_Store": b"\x00\x00",
        "dogs/Thumbs.db": b"\x00",
        "stray.jpg": image_bytes(),
    }
    dataset = importer(make_zip(tmp_path / "messy.zip", entries))
    reasons = {Path(s.file).name: s.reason for s in dataset.skipped}
    assert len(dataset) == 6 and dataset.classes == ("cats", "dogs")
    assert "truncated" in reasons["truncated.jpg"]
    assert "empty file" in reasons["empty.jpg"]
    assert "not an image" in reasons["notes.jpg"]
    assert "900,000,000 pixels" in reasons["huge.png"] and "max_pixels" in reasons["huge.png"]
    assert "not an image file (.pdf)" in reasons["report.pdf"]
    assert "system or hidden folder (1 files)" in reasons["__MACOSX"] and "system or hidden" in reasons[".DS_Store"]
    assert "system or hidden" in reasons["Thumbs.db"]
    assert "class folder" in reasons["stray.jpg"]
    assert any("files were skipped" in w for w in dataset.warnings)


def test_import_fails_when_too_little_is_left(tmp_path, importer):
    entries = {"cats/a.jpg": image_bytes(), "cats/b.jpg": image_bytes(), "dogs/a.jpg": b"", "dogs/b.jpg": b"junk"}
    with pytest.raises(DataError, match=r"at least 2 images.*'dogs' \(0\)|found 1 class"):
        importer(make_zip(tmp_path / "thin.zip", entries))


# --- layouts that must be refused with a fix ------------------------------------------------------


def test_one_class_is_refused(tmp_path, importer):
    with pytest.raises(DataError, match=r"found 1 class \('cats', 4 images\).*at least 2.*one folder per class"):
        importer(make_zip(tmp_path / "one.zip", classes(names=("cats",))))


def test_one_image_per_class_is_refused(tmp_path, importer):
    with pytest.raises(DataError, match=r"at least 2 images.*'cats' \(1\), 'dogs' \(1\)"):
        importer(make_zip(tmp_path / "single.zip", classes(per_class=1)))


def test_no_images_at_all(tmp_path, importer):
    archive = make_zip(tmp_path / "docs.zip", {"readme.txt": b"hello", "notes/a.pdf": b"%PDF"})
    with pytest.raises(DataError, match=r"found no usable images.*Skipped 2 file"):
        importer(archive)


# --- layouts that must be accepted ----------------------------------------------------------------


def test_nested_top_folders_are_unwrapped(tmp_path, importer):
    dataset = importer(make_zip(tmp_path / "nested.zip", classes(prefix="export/my photos/")))
    assert dataset.classes == ("cats", "dogs") and len(dataset) == 8


def test_mixed_case_class_folders_are_merged_with_a_warning(tmp_path, importer):
    entries = {**classes(names=("Cat", "dog")), "cat/extra_1.jpg": image_bytes()}
    entries.update({f"Cat/more_{i}.jpg": image_bytes() for i in range(2)})
    dataset = importer(make_zip(tmp_path / "case.zip", entries))
    assert dataset.classes == ("Cat", "dog")
    assert int((dataset.records["label"] == "Cat").sum()) == 7
    assert any("differ only in case" in w for w in dataset.warnings)


def test_unicode_file_and_class_names(tmp_path, importer):
    entries = {"чай/фото 1.jpg": image_bytes(), "чай/фото 2.jpg": image_bytes(),
               "café/été ☀.png": image_bytes("PNG"), "café/naïve.png": image_bytes("PNG")}
    dataset = importer(make_zip(tmp_path / "unicode.zip", entries))
    assert dataset.classes == ("café", "чай")
    assert all(path.is_file() for path in dataset.files())


def test_every_supported_format_and_mode(tmp_path, importer):
    entries = {
        "a/x.png": image_bytes("PNG", mode="RGBA"), "a/y.gif": image_bytes("GIF", mode="L"),
        "a/z.bmp": image_bytes("BMP"), "b/x.webp": image_bytes("WEBP"), "b/y.tiff": image_bytes("TIFF"),
        "b/z.jpg": image_bytes("JPEG", mode="L"),
    }  # fmt: skip
    dataset = importer(make_zip(tmp_path / "formats.zip", entries))
    assert dataset.records["format"].value_counts().to_dict() == {
        "PNG": 1, "GIF": 1, "BMP": 1, "WEBP": 1, "TIFF": 1, "JPEG": 1,
    }  # fmt: skip


def test_csv_labels_with_a_missing_file(tmp_path, importer):
    entries = {f"images/img{i}.jpg": image_bytes() for i in range(6)}
    entries["labels.csv"] = (
        "Path,Label\n" + "".join(f"images/img{i}.jpg,{'cat' if i < 3 else 'dog'}\n" for i in range(6))
        + "images/gone.jpg,dog\n../../etc/passwd,cat\n"
    ).encode()
    dataset = importer(make_zip(tmp_path / "csv.zip", entries))
    assert dataset.layout == "csv" and dataset.classes == ("cat", "dog") and len(dataset) == 6
    reasons = [s.reason for s in dataset.skipped]
    assert any("but not found" in r for r in reasons)
    assert any("leaves the dataset folder" in r for r in reasons)


def test_split_folders_any_case_are_kept(tmp_path, importer):
    entries = {**classes(prefix="Train/", per_class=6), **classes(prefix="VALIDATION/", per_class=2),
               **classes(prefix="test/", per_class=2)}
    dataset = importer(make_zip(tmp_path / "splits.zip", entries))
    assert dataset.layout == "split folders"
    assert dataset.split_sizes() == {"train": 12, "val": 4, "test": 4}
    test_files = {p.as_posix() for p in dataset.subset("test")["path"].map(Path)}
    assert all(p.startswith("test/") for p in test_files)


def test_symlinked_file_in_a_folder_pointing_outside_is_skipped(tmp_path, importer):
    source = tmp_path / "photos"
    for name in ("cats", "dogs"):
        (source / name).mkdir(parents=True)
        for i in range(3):
            (source / name / f"{i}.jpg").write_bytes(image_bytes())
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(image_bytes())
    (source / "cats" / "link.jpg").symlink_to(secret)
    dataset = importer(source)
    assert len(dataset) == 6
    assert any("outside the dataset folder" in s.reason for s in dataset.skipped)


# --- splits and storage ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 5, 10, 57, 200])
def test_split_rule_leaves_no_needed_split_empty(n):
    train, val, test = split_counts(n, SplitConfig())
    assert train + val + test == n and train >= 1 and test >= 1
    assert val >= 1 or n == 2
    assert abs(test - 0.15 * n) <= 1


def test_split_is_stratified_seeded_and_stored(tmp_path, importer, workspace):
    source = make_zip(tmp_path / "twenty.zip", classes(per_class=20))
    first = importer(source)
    per_class = first.records.groupby(["label", "split"]).size().unstack()
    assert per_class.to_dict("index") == {c: {"test": 3, "train": 14, "val": 3} for c in ("cats", "dogs")}
    again = importer(source)
    assert again.split_hash() == first.split_hash()
    other_seed = importer(source, split=SplitConfig(seed=1))
    assert other_seed.split_hash() != first.split_hash()

    assert len(list((workspace / "datasets").iterdir())) == 2  # each split of the data is stored on its own
    stored = Dataset.load(other_seed.root.parent)
    assert stored.split_hash() == other_seed.split_hash()
    assert stored.classes == first.classes and list(stored.records.columns) == list(first.records.columns)
    assert all(p.is_file() for p in stored.files("test"))


def _splits_per_group(dataset) -> dict:
    return dataset.records.groupby(["label", "group"])["split"].agg(lambda s: "+".join(sorted(set(s)))).to_dict()


def test_sub_folders_are_groups_kept_whole_in_one_split(tmp_path, importer):
    entries = {f"{c}/video{g}/{k}.png": image_bytes("PNG")
               for c in ("cats", "dogs") for g in range(8) for k in range(5)}
    dataset = importer(make_zip(tmp_path / "videos.zip", entries))
    spans = _splits_per_group(dataset)
    assert len(spans) == 16 and all("+" not in s for s in spans.values())  # no group in two splits
    for label in ("cats", "dogs"):
        assert {s for (c, _), s in spans.items() if c == label} == {"train", "val", "test"}
    assert dataset.split_sizes() == {"train": 60, "val": 10, "test": 10}
    assert any("16 groups" in note and "kept whole" in note for note in dataset.notes)
    stored = Dataset.load(dataset.stored_in)
    assert _splits_per_group(stored) == spans and stored.split_hash() == dataset.split_hash()


def test_flat_class_folders_split_as_before_groups(tmp_path, importer):
    """No sub-folders, no groups: the split is the seeded image-by-image one (the counts of the rule)."""
    dataset = importer(make_zip(tmp_path / "flat.zip", classes(per_class=20)))
    assert dataset.records["group"].isna().all() and not any("group" in n for n in dataset.notes)
    per_class = dataset.records.groupby(["label", "split"]).size().unstack()
    assert per_class.to_dict("index") == {c: {"test": 3, "train": 14, "val": 3} for c in ("cats", "dogs")}


def test_held_out_groups_are_a_fair_draw_not_the_small_ones():
    """Forty one-image groups and three bursts of forty: filling the shares largest first puts the three bursts in
    training and holds out only one-image groups (another population, where size goes with kind); a seeded
    random order of groups holds out bursts about as often as their share of the images (three quarters)."""
    import pandas as pd

    from tlcore.data.splits import assign_splits

    groups = [f"single{i}" for i in range(40)] + [f"burst{i}" for i in range(3) for _ in range(40)]
    frame = pd.DataFrame({"path": [f"{i}.png" for i in range(len(groups))], "label": "cats", "split": None,
                          "group": groups})
    size = frame["group"].map(frame["group"].value_counts())
    held_out_from_bursts = []
    for seed in range(10):
        splits = assign_splits(frame, SplitConfig(seed=seed))
        assert splits.groupby(frame["group"]).nunique().max() == 1
        held_out_from_bursts.append(float((size[splits != "train"] == 40).mean()))
    assert 0.4 < np.mean(held_out_from_bursts) < 0.95  # largest first: 0


def test_a_class_with_too_few_groups_is_split_by_image_and_says_so(tmp_path, importer):
    entries = {f"cats/video{g}/{k}.png": image_bytes("PNG") for g in range(2) for k in range(10)}
    entries.update({f"dogs/video{g}/{k}.png": image_bytes("PNG") for g in range(6) for k in range(4)})
    dataset = importer(make_zip(tmp_path / "few.zip", entries))
    spans = _splits_per_group(dataset)
    assert all("+" not in s for (c, _), s in spans.items() if c == "dogs")
    assert any("+" in s for (c, _), s in spans.items() if c == "cats")
    assert set(dataset.subset("val")["label"]) == set(dataset.subset("test")["label"]) == {"cats", "dogs"}
    warning = next(w for w in dataset.warnings if "groups have images in both" in w)
    assert "['cats']" in warning and "at least three groups" in warning


def test_csv_group_column_and_groups_shared_across_split_folders(tmp_path, importer):
    entries = {f"img/{c}{g}_{k}.png": image_bytes("PNG") for c in "ab" for g in range(6) for k in range(3)}
    listing = "path,label,group\n" + "".join(f"img/{c}{g}_{k}.png,{c},{c}{g}\n" for c in "ab" for g in range(6)
                                              for k in range(3))
    dataset = importer(make_zip(tmp_path / "listed.zip", entries | {"labels.csv": listing.encode()}))
    assert len(_splits_per_group(dataset)) == 12 and all("+" not in s for s in _splits_per_group(dataset).values())

    shared = {f"{split}/{c}/cam1/{k}.png": image_bytes("PNG") for split in ("train", "test") for c in "ab"
              for k in range(3)}
    dataset = importer(make_zip(tmp_path / "shared.zip", shared))
    assert any("2 of 2 groups have images in both training and a held-out split" in w for w in dataset.warnings)


def test_warnings_for_few_imbalanced_and_tiny_images(tmp_path, importer):
    entries = {f"big/{i}.png": image_bytes("PNG", size=(20, 20)) for i in range(30)}
    entries.update({f"small/{i}.png": image_bytes("PNG") for i in range(4)})
    dataset = importer(make_zip(tmp_path / "warn.zip", entries))
    text = " | ".join(dataset.warnings)
    assert "few images in 'small' (4)" in text
    assert "imbalanced" in text and "8x" in text
    assert "30 images are under 32 px" in text


# --- the shared datasets --------------------------------------------------------------------------


def test_hymenoptera_keeps_its_train_val_split(importer):
    dataset = importer(shared_dataset("hymenoptera"))
    assert dataset.layout == "split folders" and dataset.classes == ("ants", "bees") and len(dataset) == 397
    sizes = dataset.split_sizes()
    assert sizes["test"] == 153 and sizes["train"] + sizes["val"] == 244  # val/ is the held-out set
    assert all(p.startswith("val/") for p in dataset.subset("test")["path"])
    assert any("val folder is the held-out test split" in w for w in dataset.warnings)


def test_mnist100_keeps_its_train_test_split(importer):
    dataset = importer(shared_dataset("mnist100"))
    assert len(dataset.classes) == 10 and len(dataset) == 2000
    assert dataset.split_sizes()["test"] == 1000
    assert all(p.startswith("test/") for p in dataset.subset("test")["path"])


@pytest.mark.parametrize("chunk", [3, 10_000])
def test_split_hash_is_the_digest_of_the_sorted_rows(tmp_path, importer, monkeypatch, chunk):
    """Fed in chunks for large tables, it must stay the digest of json.dumps(sorted rows): runs store it."""
    import hashlib
    import json

    from tlcore.data import dataset as dataset_module

    monkeypatch.setattr(dataset_module, "HASH_CHUNK", chunk)
    dataset = importer(make_zip(tmp_path / "u.zip", classes(("Äpfel", "cats", "Zebra", "éclair"), per_class=5)))
    rows = sorted(zip(dataset.records["sha256"], dataset.records["label"], dataset.records["split"], strict=True))
    assert dataset.split_hash() == hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]
