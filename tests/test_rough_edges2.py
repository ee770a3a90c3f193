"""Rough edges a new user hit on the Data page (issue 35, items 1, 7, 8 and 9) and the app's dataset cache (36)."""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pandas as pd
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO


def data_page(ws_id: str | None = None) -> AppTest:
    """The Data page in a session of its own (or of workspace `ws_id`, as a reload with ?ws=... opens it)."""
    at = AppTest.from_file(str(REPO / "pages" / "data.py"), default_timeout=300)
    if ws_id:
        at.query_params["ws"] = ws_id
    return at.run()


def shown_text(markdown: str) -> str:
    """What a reader sees of Markdown made by `plain`: the escapes removed."""
    return re.sub(r"\\(.)", r"\1", markdown)


def png(colour: tuple[int, int, int], seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.integers(-20, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


# --- item 1: a refused class name leaves the gathering panel whole -------------------------------------------------


def add_class(at: AppTest, name: str) -> AppTest:
    at.text_input[0].input(name)
    return next(b for b in at.button if b.label == "Add class").click().run()


def test_a_refused_class_name_is_said_above_the_whole_gathering_panel():
    at = data_page()
    at.radio[0].set_value("gather").run()
    for name in ("cat", "dog"):
        add_class(at, name)
    for name, said in [("Cat", "there is already a class called 'Cat'"), ("a/b", "cannot be a class name"),
                       ("   ", "a class needs a name")]:
        add_class(at, name)
        assert not at.exception
        assert [said in shown_text(e.value) for e in at.error] == [True], name
        assert at.radio[1].options == ["cat", "dog"]  # where webcam photos go: the panel is still there
        assert len(at.file_uploader) == 2 and at.get("camera_input")
        assert any(b.label == "Create the dataset" for b in at.button)
    add_class(at, "bird")
    assert not at.error and at.radio[1].options == ["cat", "dog", "bird"]


# --- item 8: a damaged upload is named as the user named it ------------------------------------------------------


def test_a_damaged_upload_is_reported_under_the_users_file_name_shown_as_text():
    at = data_page()
    at.radio[0].set_value("upload").run()
    at.file_uploader[0].upload("My [holiday](x.com) *photos*.zip", b"PK\x03\x04 not really a zip" * 8,
                               "application/zip").run()
    assert not at.exception
    (error,) = at.error
    assert shown_text(error.value).startswith("'My [holiday](x.com) *photos*.zip' is not a readable zip")
    assert "\\[holiday\\]" in error.value and "\\*photos\\*" in error.value  # no link, no emphasis
    assert not re.search(r"[0-9a-f]{32}", error.value)  # not the server's digest name


# --- item 9: many classes, few images each -----------------------------------------------------------------------


def many_classes_zip(n_classes: int = 30, per_class: int = 5) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for c in range(n_classes):
            for i in range(per_class):
                zf.writestr(f"kinds/c{c:02d}/{i}.png", png((c * 8 % 256, 90, 200 - c * 5 % 200), 100 * c + i))
    return buffer.getvalue()


def test_many_small_classes_give_one_short_warning_and_pages_of_samples():
    at = data_page()
    at.radio[0].set_value("upload").run()
    at.file_uploader[0].upload("kinds.zip", many_classes_zip(), "application/zip").run()
    assert not at.exception
    few = [w.value for w in at.warning if "fewer than 10" in w.value]
    assert len(few) == 1 and few[0].startswith("30 classes have fewer than 10 images, e.g. ")
    assert "c04" in few[0] and "c05" not in few[0]  # five named, the rest in the table below
    table = next(e for e in at.expander if e.label.startswith("The 30 classes with fewer than 10"))
    assert len(table.dataframe[0].value) == 30
    rows = [m.value for m in at.markdown if re.fullmatch(r"\*\*c\d\d\*\*", m.value)]
    assert rows == [f"**c{c:02d}**" for c in range(20)]  # the first page of samples
    at.number_input(key="samples_page").set_value(2).run()
    rows = [m.value for m in at.markdown if re.fullmatch(r"\*\*c\d\d\*\*", m.value)]
    assert rows == [f"**c{c:02d}**" for c in range(20, 30)]


# --- item 7: the label-mistake review names each image by its path in the upload ----------------------------------


def test_the_label_review_names_each_image_by_its_path_in_the_upload():
    from tlcore import jobs, runs, session, workspaces

    ws_id, folder = workspaces.create()
    at = data_page(ws_id)  # loads the built-in sample into the workspace
    dataset_folder = session.load(folder).folder(folder, "datasets")
    paths = list(pd.read_csv(dataset_folder / "dataset.csv")["path"][:2])
    analysis = folder / "analyses" / "a1"
    runs.write_json(analysis / "job.json", {"kind": "analysis", "dataset": str(dataset_folder)})
    runs.write_json(analysis / jobs.RESULT_FILE, {"label_issues": [
        {"file": p, "given": "circle", "suggested": "square", "score": 0.9} for p in paths]})
    session.update(folder, analysis="a1")
    at = data_page(ws_id)
    assert not at.exception
    captions = [shown_text(img.caption) for element in at.get("image") for img in element.proto.imgs]
    assert paths and all(p in captions for p in paths)


# --- issue 36: the loaded datasets the app keeps are bounded by their size ---------------------------------------


def test_loaded_datasets_are_bounded_by_size_and_the_one_in_use_stays(monkeypatch):
    from types import SimpleNamespace

    from pages import common

    reads = []

    def read(folder: str):
        reads.append(folder)
        rows = {"small": 1_000, "big": 50_000}[folder.split("-")[0]]
        records = pd.DataFrame({"path": [f"{folder}/{i:06d}.png" for i in range(rows)]})
        return SimpleNamespace(records=records), SimpleNamespace(per_class=pd.DataFrame({"class": ["a"]}))

    monkeypatch.setattr(common, "_read_dataset", read)
    small = common._bytes_of(*read("small-0"))
    store = common._LoadedDatasets(budget=3 * small)
    reads.clear()
    for name in ("small-1", "small-2", "small-1", "small-3"):
        store.get(name, 0.0)
    assert reads == ["small-1", "small-2", "small-3"]  # the second look at small-1 read nothing
    assert [key[0] for key in store.entries] == ["small-2", "small-1", "small-3"]
    store.get("small-4", 0.0)  # over budget: the least recently used goes
    assert [key[0] for key in store.entries] == ["small-1", "small-3", "small-4"] and store.held <= store.budget
    store.get("big-1", 0.0)  # larger than the budget on its own: it stays alone, as the one in use
    assert [key[0] for key in store.entries] == ["big-1"]
    store.get("small-1", 1.0)  # a new version of a folder is read again
    assert reads[-1] == "small-1" and [key for key in store.entries] == [("small-1", 1.0)]
