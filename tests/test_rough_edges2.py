"""Rough edges a new user hit on the Data page (issue 35, items 1, 7, 8 and 9) and the app's dataset cache (36)."""

from __future__ import annotations

import io
import re

import numpy as np
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
