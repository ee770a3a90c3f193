"""The app runs headless: an upload gives the base's ImageNet classes; a bad file gives a message."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO


@pytest.fixture
def app(backbone):  # the shared base is built once, before the app asks for it
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    return at.run()


def test_start_page_asks_for_an_image(app):
    assert not app.exception
    assert app.title[0].value == "TransferLab"
    assert "Upload a photo" in app.info[0].value


def test_uploaded_photo_shows_its_imagenet_classes(app, photos):
    app.file_uploader[0].upload("chelsea.jpg", photos["chelsea"].read_bytes(), "image/jpeg")
    app.run()
    assert not app.exception
    chart = app.get("plotly_chart")[0].proto.spec
    assert "Egyptian cat" in chart


def test_broken_upload_shows_a_message_not_a_traceback(app):
    app.file_uploader[0].upload("broken.png", b"this is not a png", "image/png")
    app.run()
    assert not app.exception
    assert "not a readable image" in app.error[0].value
