"""Faults of issue 36: links out of the input, folders that cannot be read, data the import accepts but training
could not use, and tables in any common encoding. Each case is built here.
"""

from __future__ import annotations

import builtins
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.test_data import image_bytes
from tlcore.data import import_data
from tlcore.errors import DataError, TLCoreError
from tlcore.folds import folds, holdout
from tlcore.image.data import import_dataset
from tlcore.text.data import TextColumns, import_text_dataset, table_columns

# --- every path an import reads resolves inside the folder it was given --------------------------------


@pytest.fixture
def opened(monkeypatch) -> list[Path]:
    """Every file opened while the test runs (by `open` or `Path.open`), resolved."""
    seen: list[Path] = []
    real_open, real_path_open = builtins.open, Path.open

    def spy_open(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike):
            seen.append(Path(file).resolve())
        return real_open(file, *args, **kwargs)

    def spy_path_open(self, *args, **kwargs):
        seen.append(self.resolve())
        return real_path_open(self, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(Path, "open", spy_path_open)
    return seen


def _outside(tmp_path: Path) -> Path:
    """A folder beside the input, holding what no import of the input may read."""
    secret = tmp_path / "secret"
    (secret / "more").mkdir(parents=True)
    for name in ("secret.jpg", "more/a.jpg", "more/b.jpg"):
        (secret / name).write_bytes(image_bytes())
    for name in ("secret.txt", "more/a.txt", "more/b.txt"):
        (secret / name).write_text("the secret text that lives outside the input")
    (secret / "table.csv").write_text("text,label\n" + "".join(f"secret row {i},x{i % 2}\n" for i in range(8)))
    return secret


def _never_read(opened: list[Path], secret: Path) -> None:
    assert not [p for p in opened if secret in p.parents], "a file outside the input was opened"


def _images(folder: Path, per_class: int = 3, names=("cats", "dogs")) -> Path:
    for name in names:
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (folder / name / f"{i}.jpg").write_bytes(image_bytes())
    return folder


def test_a_labels_csv_never_reads_through_a_link_out_of_the_folder(tmp_path, opened):
    secret = _outside(tmp_path)
    source = _images(tmp_path / "data")
    (source / "outside").symlink_to(secret, target_is_directory=True)
    (source / "cats" / "linked.jpg").symlink_to(secret / "secret.jpg")
    rows = [f"{c}/{i}.jpg,{c}" for c in ("cats", "dogs") for i in range(3)]
    rows += ["outside/secret.jpg,cats", "outside/more/a.jpg,dogs", "cats/linked.jpg,cats"]
    (source / "labels.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    opened.clear()  # what the test itself wrote
    dataset = import_dataset(source, tmp_path / "ws")
    assert dataset.layout == "csv" and len(dataset) == 6
    assert not any("outside" in p or "linked" in p for p in dataset.records["path"])
    reasons = {s.file: s.reason for s in dataset.skipped}
    assert "through a link" in reasons["labels.csv line 8: outside/secret.jpg"]
    assert "through a link" in reasons["labels.csv line 10: cats/linked.jpg"]
    _never_read(opened, secret)


def test_class_folders_never_read_through_a_link_out_of_the_folder(tmp_path, opened):
    secret = _outside(tmp_path)
    source = _images(tmp_path / "data")
    (source / "cats" / "linked.jpg").symlink_to(secret / "secret.jpg")
    (source / "cats" / "more").symlink_to(secret / "more", target_is_directory=True)
    (source / "birds").symlink_to(secret / "more", target_is_directory=True)
    (source / "dogs" / "inside.jpg").symlink_to(source / "dogs" / "0.jpg")  # a link that stays inside is read
    opened.clear()  # what the test itself wrote
    dataset = import_data(source, tmp_path / "ws")
    assert dataset.classes == ("cats", "dogs") and len(dataset) == 7
    skipped = {s.file: s.reason for s in dataset.skipped}
    for name in ("cats/linked.jpg", "cats/more", "birds"):
        assert "outside the dataset folder" in skipped[name]
    _never_read(opened, secret)


def test_text_tables_never_read_through_a_link_out_of_the_folder(tmp_path, opened):
    secret = _outside(tmp_path)
    source = tmp_path / "data"
    source.mkdir()
    (source / "data.csv").write_text("text,label\n" + "".join(f"an inside text {i},c{i % 2}\n" for i in range(12)))
    (source / "more.csv").symlink_to(secret / "table.csv")
    opened.clear()  # what the test itself wrote
    dataset = import_text_dataset(source, tmp_path / "ws")
    assert len(dataset) == 12 and not any("secret" in t for t in dataset.texts())
    assert any(s.file == "more.csv" and "outside" in s.reason for s in dataset.skipped)
    only_link = tmp_path / "only"
    only_link.mkdir()
    (only_link / "data.csv").symlink_to(secret / "table.csv")
    opened.clear()
    with pytest.raises(DataError, match="no usable texts"):
        import_text_dataset(only_link, tmp_path / "ws")
    _never_read(opened, secret)


def test_text_folders_never_read_through_a_link_out_of_the_folder(tmp_path, opened):
    secret = _outside(tmp_path)
    source = tmp_path / "data"
    for label in ("pos", "neg"):
        (source / label).mkdir(parents=True)
        for i in range(4):
            (source / label / f"{i}.txt").write_text(f"a {label} text, number {i}")
    (source / "pos" / "linked.txt").symlink_to(secret / "secret.txt")
    (source / "neg" / "more").symlink_to(secret / "more", target_is_directory=True)
    (source / "secrets").symlink_to(secret / "more", target_is_directory=True)
    opened.clear()  # what the test itself wrote
    dataset = import_data(source, tmp_path / "ws")
    assert dataset.modality == "text" and len(dataset) == 8 and dataset.classes == ("neg", "pos")
    assert not any("secret" in t for t in dataset.texts())
    assert {"pos/linked.txt", "neg/more", "secrets"} <= {s.file for s in dataset.skipped}
    _never_read(opened, secret)


# --- what could not be read is listed with the reason ------------------------------------------------------


@pytest.fixture
def unreadable(monkeypatch):
    """Make folders and files unreadable as chmod 000 would (the tests run as root, which reads anyway)."""
    folders: set[Path] = set()
    files: set[Path] = set()
    real_scandir, real_path_open = os.scandir, Path.open

    def scandir(path="."):
        if not isinstance(path, int) and Path(path).resolve() in folders:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    def path_open(self, *args, **kwargs):
        if self.resolve() in files:
            raise PermissionError(13, "Permission denied", str(self))
        return real_path_open(self, *args, **kwargs)

    def read_bytes(self):
        with path_open(self, "rb") as handle:
            return handle.read()

    closed: set[Path] = set()  # folders that can be listed but not entered (chmod 444): nothing inside has a type
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if not isinstance(path, int) and Path(os.path.abspath(path)).parent in closed:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(Path, "open", path_open)
    monkeypatch.setattr(Path, "read_bytes", read_bytes)

    def make(*paths: Path, listed_only: bool = False) -> None:
        for path in paths:
            (closed if listed_only else folders if path.is_dir() else files).add(path.resolve())

    return make


def test_an_unreadable_class_folder_is_listed_as_skipped(tmp_path, unreadable):
    source = _images(tmp_path / "data", names=("birds", "cats", "dogs"))
    (source / "cats" / "kittens").mkdir()
    (source / "cats" / "kittens" / "0.jpg").write_bytes(image_bytes())
    (source / "fish").mkdir()
    for i in range(2):
        (source / "fish" / f"{i}.jpg").write_bytes(image_bytes())
    unreadable(source / "dogs", source / "cats" / "kittens", source / "birds" / "1.jpg")
    unreadable(source / "fish", listed_only=True)
    dataset = import_dataset(source, tmp_path / "ws")
    assert dataset.classes == ("birds", "cats") and len(dataset) == 5
    reasons = {s.file: s.reason for s in dataset.skipped}
    assert reasons["fish/0.jpg"].startswith("cannot be read (Permission denied)")
    assert reasons["dogs/"].startswith("folder cannot be read (Permission denied)")
    assert reasons["cats/kittens/"].startswith("folder cannot be read (Permission denied)")
    assert reasons["birds/1.jpg"].startswith("cannot be read")


def test_an_unreadable_text_folder_file_or_table_is_named(tmp_path, unreadable):
    source = tmp_path / "data"
    for label in ("pos", "neg", "odd"):
        (source / label).mkdir(parents=True)
        for i in range(4):
            (source / label / f"{i}.txt").write_text(f"a {label} text, number {i}")
    unreadable(source / "odd", source / "pos" / "3.txt")
    dataset = import_text_dataset(source, tmp_path / "ws")
    assert dataset.classes == ("neg", "pos") and len(dataset) == 7
    reasons = {s.file: s.reason for s in dataset.skipped}
    assert reasons["odd/"].startswith("folder cannot be read") and reasons["pos/3.txt"].startswith("cannot be read")
    table = tmp_path / "table" / "data.csv"
    table.parent.mkdir()
    table.write_text("text,label\n" + "".join(f"text {i},c{i % 2}\n" for i in range(12)))
    unreadable(table)
    with pytest.raises(DataError, match=r"data\.csv cannot be read \(Permission denied\)"):
        import_text_dataset(table.parent, tmp_path / "ws")
    with pytest.raises(DataError, match=r"data\.csv cannot be read"):
        table_columns(table)


def test_an_unreadable_input_folder_is_refused_naming_it(tmp_path, unreadable):
    source = _images(tmp_path / "data")
    unreadable(source)
    with pytest.raises(DataError, match=r"found no usable images.*\./: folder cannot be read"):
        import_dataset(source, tmp_path / "ws")


def test_a_labels_csv_that_cannot_be_read_is_named(tmp_path, unreadable):
    source = _images(tmp_path / "data")
    (source / "labels.csv").write_text("path,label\n" + "\n".join(f"cats/{i}.jpg,dogs" for i in range(3)))
    unreadable(source / "labels.csv")
    dataset = import_dataset(source, tmp_path / "ws")
    assert dataset.layout == "class folders" and len(dataset) == 6
    assert any(s.file == "labels.csv" and s.reason.startswith("cannot be read") for s in dataset.skipped)


def test_a_huge_file_among_the_images_is_never_read_whole(tmp_path):
    """A CLI folder import read each candidate whole before checking it: a 3 GiB file cost 3.2 GB."""
    import tracemalloc

    source = _images(tmp_path / "data")
    with open(source / "cats" / "huge.jpg", "wb") as handle:
        handle.truncate(1024**3)  # 1 GiB of zeros, sparse: no disk is used
    tracemalloc.start()
    try:
        dataset = import_dataset(source, tmp_path / "ws")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(dataset) == 6 and any(s.file == "cats/huge.jpg" and "not an image" in s.reason
                                     for s in dataset.skipped)
    assert peak < 100 * 1024**2, f"{peak / 1024**2:.0f} MB"


# --- what the import accepts, training trains or refuses in words --------------------------------------------


def test_folds_of_a_class_with_one_item_are_refused_in_words():
    with pytest.raises(DataError, match=r"at least 2 items of every class.*2 of the 2 classes have only 1"):
        folds(np.array([0, 1]), 3, 0)
    with pytest.raises(DataError, match="1 of the 3 classes has only 1"):
        holdout(np.array([0, 0, 1, 1, 2]), 0.2, 0)


def test_folds_of_tiny_classes_leave_one_out_and_keep_every_class_on_the_fit_side():
    labels = np.array([0, 0, 1, 1])
    found = folds(labels, 3, 0)
    assert len(found) == 4 and all(len(held) == 1 and set(labels[fit]) == {0, 1} for fit, held in found)
    fit, score = holdout(labels, 0.2, 0)  # 20% of 4 items is less than one per class
    assert set(labels[fit]) == set(labels[score]) == {0, 1}
    # one group per class: held out whole, the other class's fit would be empty; its items are folded one by one
    grouped = np.array([0, 0, 0, 1, 1, 1])
    for fit, _ in folds(grouped, 3, 0, groups=np.array([7, 7, 7, 8, 8, 8])):
        assert set(grouped[fit]) == {0, 1}


def test_the_import_warns_when_a_class_has_a_single_training_item(tmp_path):
    dataset = import_dataset(_images(tmp_path / "data", per_class=2), tmp_path / "ws")
    assert any("'cats', 'dogs' have a single training image: training needs 2 per class" in w
               for w in dataset.warnings)


def _smallest(tmp_path: Path, kind: str, n_classes: int, per_class: int) -> Path:
    rng = np.random.default_rng(per_class)
    names = [f"class{c}" for c in range(n_classes)]
    if kind == "image":
        return _images(tmp_path / "data", per_class=per_class, names=names)
    path = tmp_path / "data.csv"
    path.write_text("text,label\n" + "".join(f"text {i} of {name} says {rng.integers(1e9)},{name}\n"
                                             for name in names for i in range(per_class)))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["image", "text"])
@pytest.mark.parametrize("n_classes, per_class", [(2, 2), (2, 3), (3, 3), (2, 4), (5, 4)])
def test_the_smallest_accepted_datasets_train_or_refuse_in_words(tmp_path, kind, n_classes, per_class):
    from tlcore.train import TrainConfig, train

    dataset = import_data(_smallest(tmp_path, kind, n_classes, per_class), tmp_path / "ws")
    assert dataset.modality == kind
    single = min(dataset.subset("train")["label"].value_counts()) < 2
    try:
        result = train(dataset, TrainConfig(strategies=("extract",), budget_seconds=60), tmp_path / "ws")
    except TLCoreError as refused:
        assert single and "at least 2 items of every class to learn from" in str(refused)
    else:
        assert not single and result.selected is not None


# --- tables in any common encoding: read right, or refused in words ------------------------------------------

ROWS = [("Größe über alles, café crème", "deutsch"), ("naïve façade à côté", "français"),
        ("plain words only", "english"), ("it’s “quoted” – 5 €", "english")] * 3


def _table(tmp_path: Path, encoding: str, bom: bytes = b"", rows=ROWS) -> Path:
    body = "text,label\n" + "".join(f'"{text} {i}",{label}\n' for i, (text, label) in enumerate(rows))
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes(bom + body.encode(encoding))
    return path


@pytest.mark.parametrize("encoding, bom", [
    ("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16", b""), ("utf-16-le", b""), ("utf-16-be", b""),
    ("utf-32", b""), ("cp1252", b""),
])  # fmt: skip
def test_a_table_in_a_common_encoding_is_read_right(tmp_path, encoding, bom):
    path = _table(tmp_path, encoding, bom)
    dataset = import_text_dataset(path, tmp_path / "ws")
    assert set(dataset.classes) == {"deutsch", "français", "english"}
    assert set(dataset.texts()) == {f"{text} {i}" for i, (text, _) in enumerate(ROWS)}
    assert table_columns(path) == (["text", "label"], "text", "label")
    western = [n for n in dataset.notes if "read as Western European" in n]
    assert bool(western) == (encoding == "cp1252") and not any("\ufffd" in n for n in dataset.notes)


def test_a_latin1_table_and_text_files_are_read_right(tmp_path):
    rows = [(text, label) for text, label in ROWS if "€" not in text and "’" not in text]
    dataset = import_text_dataset(_table(tmp_path, "latin-1", rows=rows), tmp_path / "ws")
    assert "Größe über alles, café crème 0" in dataset.texts()
    folder = tmp_path / "texts"
    for label in ("de", "fr"):
        (folder / label).mkdir(parents=True)
        for i in range(4):
            (folder / label / f"{i}.txt").write_bytes(f"{label}: Größe, café, naïve {i}".encode("latin-1"))
    dataset = import_text_dataset(folder, tmp_path / "ws")
    assert "de: Größe, café, naïve 0" in dataset.texts()
    assert any("8 file(s) are not UTF-8" in note for note in dataset.notes)


@pytest.mark.parametrize("encoding, words", [("cp1251", "Привет, как дела у тебя сегодня"),
                                             ("shift_jis", "今日はとても良い天気ですね"),
                                             ("cp1253", "Καλημέρα σας, τι κάνετε σήμερα")])
def test_a_table_in_an_encoding_that_cannot_be_told_is_refused_in_words(tmp_path, capsys, encoding, words):
    rows = [(f"{words} {i}", "a" if i % 2 else "b") for i in range(12)]
    path = _table(tmp_path, encoding, rows=rows)
    with pytest.raises(DataError, match=r"is not UTF-8.*save it as UTF-8"):
        import_text_dataset(path, tmp_path / "ws")
    with pytest.raises(DataError, match="is not UTF-8"):
        table_columns(path)


def test_a_table_over_the_limit_is_refused_from_its_size_unread(tmp_path):
    """The limit held, but only after 512 MiB of the table had been read into memory."""
    import tracemalloc

    from tlcore.text.data import MAX_TABLE_BYTES

    path = tmp_path / "big.csv"
    with open(path, "wb") as handle:
        handle.write(b"text,label\n")
        handle.truncate(MAX_TABLE_BYTES + 1024)  # sparse: no disk is used
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"big\.csv is larger than the limit of 512 MB"):
            import_text_dataset(path, tmp_path / "ws")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 1024**2, f"{peak / 1024**2:.0f} MB"


def test_a_binary_file_named_csv_is_refused_in_words(tmp_path):
    path = tmp_path / "sheet.csv"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 40)  # a spreadsheet saved with the wrong name
    with pytest.raises(DataError):
        import_text_dataset(path, tmp_path / "ws")


# --- the Data page shows any image, and every name as text ---------------------------------------------------


def _data_page_with_upload(name: str, data: bytes, mime: str):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import REPO

    at = AppTest.from_file(str(REPO / "pages" / "data.py"), default_timeout=300).run()
    at.radio[0].set_value("upload").run()
    at.file_uploader[0].upload(name, data, mime)
    return at.run()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for entry, data in entries.items():
            zf.writestr(entry, data)
    return buffer.getvalue()


def test_a_dataset_of_16_bit_pngs_renders_its_data_page():
    rng = np.random.default_rng(16)
    entries = {}
    for name in ("dark", "light"):
        for i in range(4):
            pixels = rng.integers(0, 30000, (40, 48), dtype=np.uint16) + (30000 if name == "light" else 0)
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, "PNG")  # mode I;16, which Streamlit cannot write as JPEG
            assert Image.open(io.BytesIO(buffer.getvalue())).mode == "I;16"
            entries[f"{name}/{i}.png"] = buffer.getvalue()
    at = _data_page_with_upload("grey16.zip", _zip(entries), "application/zip")
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Images"] == "8"
    assert len(at.get("image")) == 2  # a row of samples per class


def test_names_from_the_user_render_as_text_never_as_markdown():
    upload = "[Session expired - sign in again](https:evil.example).csv"
    classes = ["[free prize](https://evil.example)", "**loud** <b>html</b>"]
    rows = "".join(f'"message {i} for class {c}",{c}\n' for c in classes for i in range(6))
    at = _data_page_with_upload(upload, ("text,label\n" + rows).encode(), "text/csv")
    assert not at.exception, at.exception
    texts = [e.value for kind in ("markdown", "success", "warning", "info", "caption", "error") for e in at.get(kind)]
    texts = [t for t in texts if not t.startswith("Dataset: **")]  # the header of pages/common.py: not this page's
    for raw in [upload.removesuffix(".csv"), *classes]:
        assert not [t for t in texts if raw in t], f"{raw!r} reached Markdown as it is"
    assert any(t.startswith("Loaded: **\\[Session expired \\- sign in again\\]\\(https\\:evil\\.example\\)**")
               for t in texts)
    assert "**\\*\\*loud\\*\\* \\<b\\>html\\<\\/b\\>**" in texts  # the class name above its samples


# --- a table with one column (issue 35, item 8) ----------------------------------------------------------------


@pytest.mark.parametrize("chosen", [TextColumns(), TextColumns(text="text", label="text")])
def test_a_one_column_table_says_which_columns_were_found_and_what_is_needed(tmp_path, chosen):
    table = tmp_path / "reviews.csv"
    table.write_text("text\nlovely day\nawful service\n", encoding="utf-8")
    with pytest.raises(DataError) as refused:
        import_text_dataset(table, tmp_path / "ws", columns=chosen)
    message = str(refused.value)
    assert "found one column, ['text']" in message and "a label column" in message and "\n" not in message
    assert "must differ" not in message


def test_the_same_column_chosen_twice_names_the_columns_found(tmp_path):
    table = tmp_path / "reviews.csv"
    table.write_text("text,label\nlovely day,pos\nawful service,neg\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"both are 'text' \(columns found: \['text', 'label'\]\)"):
        import_text_dataset(table, tmp_path / "ws", columns=TextColumns(text="text", label="text"))


# --- a large table is parsed in chunks ------------------------------------------------------------------------

PEAK_OF_A_TABLE = """
import resource, sys
from pathlib import Path
from tlcore.data.limits import ImportLimits
from tlcore.text.data import TextColumns, _read_table
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
frame, _, _ = _read_table(Path(sys.argv[1]), "big.csv", TextColumns(), ImportLimits())
print(len(frame), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)
"""


@pytest.mark.slow
def test_a_large_table_is_read_with_memory_a_small_multiple_of_its_size(tmp_path):
    """A 505 MiB table peaked at 5.1 GB (its bytes, pandas' table and the records at once); 505 MiB measured
    2.47 GB before chunked parsing in `_read_table`, 1.51 GB after (2026-12-04, 2 cores). Here 128 MiB."""
    import subprocess
    import sys

    from tests.conftest import REPO

    path = tmp_path / "big.csv"
    row = b"a lovely day with a quick brown fox and a lazy dog again,c%d\n"
    block = b"".join(row % (i % 7) for i in range(20000))
    with path.open("wb") as handle:
        handle.write(b"text,label\n")
        for _ in range(128 * 2**20 // len(block)):
            handle.write(block)
    size = path.stat().st_size
    found = subprocess.run([sys.executable, "-c", PEAK_OF_A_TABLE, str(path)], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    rows, grown = int(found[0]), int(found[1])
    assert rows == (size - len(b"text,label\n")) // len(row % 0)
    assert grown < 3.5 * size, f"{grown / 2**20:.0f} MB for a {size / 2**20:.0f} MB table"


# --- a 40-megapixel photo given to a bundle ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_an_image_for_a_bundle_is_decoded_at_most_full_side_with_its_shape_kept(tmp_path, suffix):
    from tlcore.image.decode import FULL_SIDE, load_rgb

    path = tmp_path / f"wide{suffix}"
    gradient = np.linspace(0, 255, 3000, dtype=np.uint8)
    Image.fromarray(np.stack([np.tile(gradient, (1500, 1))] * 3, axis=-1)).save(path)
    image = load_rgb(path)  # what `predict` and the app's upload hand to a bundle's model
    assert max(image.shape[:2]) <= FULL_SIDE and image.shape[2] == 3
    assert abs(image.shape[1] / image.shape[0] - 2.0) < 0.01  # the shape kept: the model resizes it itself
    assert load_rgb(path, 64).shape == (64, 64, 3)  # training's decoding is unchanged


PEAK_OF_A_PHOTO = """
import resource, sys
from tlcore.image.decode import load_rgb
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
image = load_rgb(sys.argv[1])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)
"""


@pytest.mark.slow
def test_a_40_megapixel_photo_is_decoded_in_bounded_memory(tmp_path):
    """`predict` of a 7745x5164 JPEG peaked at 2,296 MB (the model given the full photo as float32); now 904 MB,
    of which ~805 MB is TensorFlow and the bundle (CLI, 2026-12-04, 2 cores). Here the decoding alone."""
    import subprocess
    import sys

    from tests.conftest import REPO

    path = tmp_path / "photo.jpg"
    Image.new("RGB", (7745, 5164), (120, 160, 200)).save(path, quality=90)
    grown = int(subprocess.run([sys.executable, "-c", PEAK_OF_A_PHOTO, str(path)], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout)
    assert grown < 150 * 2**20, f"{grown / 2**20:.0f} MB"  # 535 MB before; the photo as RGB alone is 114 MB
