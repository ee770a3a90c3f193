"""End to end in a real headless browser: upload a zip, analyse, train, download the bundle, use it.

Drives Debian's Chromium (`.ci/run` installs it with apt where missing) through Playwright,
against `streamlit run app.py` on a free local port. Saves a screenshot of each page into the
test's folder, and into docs/ when SAVE_SCREENSHOTS=1 (the README shows those).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.conftest import REPO

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)"),
]


def full_page_shot(page, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its main area, so the window is made as tall as the content."""
    page.wait_for_timeout(1500)  # let charts finish drawing
    size = page.viewport_size
    height = page.evaluate("Math.max(...[...document.querySelectorAll('[data-testid=stMain] *')]"
                           ".map(e => e.scrollHeight), 0)")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height) + 80, 6000))})
    page.wait_for_timeout(1000)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


def press_train(page) -> None:
    """Press Train until the run is submitted. CI once saw a click land while the page was still settling
    after the switch from Analyse, and the page stayed at "Press Train"; once a run is submitted the page
    follows it and has no Train button, so pressing again cannot start a second run."""
    from playwright.sync_api import expect

    waiting = page.get_by_text("Press Train: the work runs in the background")
    for _ in range(3):
        page.get_by_role("button", name="Train", exact=True).click()
        try:
            expect(waiting).to_have_count(0, timeout=30_000)
            return
        except AssertionError:
            continue
    raise AssertionError("pressing Train three times did not submit a run")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shapes_zip() -> bytes:
    rng = np.random.default_rng(1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for shape in ("round", "boxy"):
            for i in range(14):
                image = Image.new("RGB", (96, 96), tuple(int(c) for c in rng.integers(0, 255, 3)))
                draw, r = ImageDraw.Draw(image), int(rng.integers(18, 34))
                x, y = (int(v) for v in rng.integers(r, 96 - r, 2))
                box, fill = [x - r, y - r, x + r, y + r], tuple(int(c) for c in rng.integers(0, 255, 3))
                (draw.ellipse if shape == "round" else draw.rectangle)(box, fill=fill)
                png = io.BytesIO()
                image.save(png, "PNG")
                zf.writestr(f"my shapes/{shape}/{i}.png", png.getvalue())
    return buffer.getvalue()


@pytest.fixture
def server(tmp_path):
    """The app and one job worker on the SQLite queue, sharing a fresh TRANSFERLAB_HOME (what `make run` starts)."""
    port = _free_port()
    env = os.environ | {"TRANSFERLAB_HOME": str(tmp_path / "home"), "TRANSFERLAB_QUEUE": "sqlite"}
    worker = subprocess.Popen([sys.executable, "-m", "tlcore", "worker"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        worker.kill()
        pytest.fail("streamlit did not answer on /_stcore/health within 90 s")
    yield url
    for child in (process, worker):
        child.send_signal(signal.SIGINT)
    for child in (process, worker):
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()


def test_upload_analyse_train_download_in_a_browser(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from tlcore.predict import load_bundle, predict

    archive = tmp_path / "my_shapes.zip"
    archive.write_bytes(_shapes_zip())
    shots = tmp_path / "screenshots"
    shots.mkdir()

    def shot(page, name: str) -> None:
        full_page_shot(page, shots / f"{name}.png")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        _watched(page)
        page.goto(server)
        expect(page.get_by_role("heading", name="Data")).to_be_visible()
        page.get_by_text("Upload images (a zip of class folders)").click()
        page.locator("input[type=file]").set_input_files(str(archive))
        expect(page.get_by_test_id("stMetricValue").first).to_have_text("28", timeout=60_000)
        expect(page.get_by_text("Images per class")).to_be_visible(timeout=60_000)
        shot(page, "data")

        page.get_by_role("link", name="Analyse").click()
        page.get_by_role("button", name="Analyse", exact=True).click()
        expect(page.get_by_role("heading", name=re.compile("^Our advice: "))).to_be_visible(timeout=300_000)
        page.locator("label").filter(has_text=re.compile(r"\(extract\)$")).click()
        shot(page, "analyse")

        page.get_by_role("link", name="Train").click()
        page.get_by_text("Advanced settings").click()
        trials = page.get_by_label("Keras Tuner trials")
        trials.fill("2")
        trials.press("Enter")
        press_train(page)
        _result_shown(page)
        shot(page, "train")

        page.get_by_role("link", name="Results").click()
        expect(page.get_by_text("Test accuracy", exact=True).first).to_be_visible()
        shot(page, "results")

        page.get_by_role("link", name="Export and try").click()
        button = page.get_by_role("button", name="Download the trained model (bundle.zip)")
        expect(button).to_be_visible(timeout=600_000)
        with page.expect_download() as download:
            button.click()
        bundle_zip = tmp_path / "downloaded.zip"
        download.value.save_as(bundle_zip)
        with zipfile.ZipFile(archive) as zf:
            photo = {"name": "same.png", "mimeType": "image/png", "buffer": zf.read("my shapes/round/1.png")}
        page.locator("input[type=file]").set_input_files([photo, photo])  # the same photo twice
        expect(page.get_by_text(re.compile(r"^same\.png: (round|boxy) \(\d+%\)$"))).to_have_count(2, timeout=60_000)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        shot(page, "export")

        page.get_by_role("link", name="Runs").click()
        expect(page.get_by_role("button", name="Open this run")).to_be_visible(timeout=600_000)
        shot(page, "runs")
        browser.close()

    bundle = load_bundle(bundle_zip)
    assert sorted(bundle.labels) == ["boxy", "round"]
    sample = tmp_path / "one.png"
    with zipfile.ZipFile(archive) as zf:
        sample.write_bytes(zf.read("my shapes/round/0.png"))
    (result,) = predict(bundle, [sample])
    assert result["label"] in ("boxy", "round") and 0 <= result["prob"] <= 1
    if os.environ.get("SAVE_SCREENSHOTS"):
        for picture in shots.iterdir():
            shutil.copy(picture, REPO / "docs" / picture.name)


TYPED = "Congratulations, you won a free camera! Reply YES to claim"


def test_text_csv_upload_train_download_and_predict_in_a_browser(server, tmp_path):
    """The text run: a small CSV made here, extract, the bundle downloaded and asked about a sentence."""
    from playwright.sync_api import expect, sync_playwright

    from tests.test_text import texts_csv
    from tlcore.predict import load_bundle, predict_texts

    source = texts_csv(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        _watched(page)
        page.goto(server)
        page.get_by_text("Upload images (a zip of class folders)").click()
        page.locator("input[type=file]").set_input_files(str(source))
        expect(page.get_by_test_id("stMetricValue").first).to_have_text("80", timeout=60_000)
        expect(page.get_by_text("Texts per class")).to_be_visible(timeout=60_000)

        page.get_by_role("link", name="Analyse").click()
        page.get_by_role("button", name="Analyse", exact=True).click()
        expect(page.get_by_role("heading", name=re.compile("^Our advice: "))).to_be_visible(timeout=300_000)
        expect(page.get_by_text("Word pieces per word").first).to_be_visible()
        page.locator("label").filter(has_text=re.compile(r"\(extract\)$")).click()

        page.get_by_role("link", name="Train").click()
        page.get_by_text("Advanced settings").click()
        trials = page.get_by_label("Keras Tuner trials")
        trials.fill("1")
        trials.press("Enter")
        press_train(page)
        _result_shown(page)

        page.get_by_role("link", name="Export and try").click()
        button = page.get_by_role("button", name="Download the trained model (bundle.zip)")
        expect(button).to_be_visible(timeout=600_000)
        with page.expect_download() as download:
            button.click()
        bundle_zip = tmp_path / "downloaded.zip"
        download.value.save_as(bundle_zip)
        box = page.get_by_label("Try it on a text")
        box.fill(TYPED)
        box.press("Control+Enter")
        # the answer, or (a sentence unlike the few templates it learned from) "none of these", nearest spam
        expect(page.get_by_text(re.compile(r"^(spam \(\d+%\)$|Probably none of these classes \(nearest:)")).first
               ).to_be_visible(timeout=120_000)
        full_page_shot(page, tmp_path / "export_text.png")
        browser.close()

    result, typed = predict_texts(load_bundle(bundle_zip), ["Shall we get a pizza after work?", TYPED])
    assert result["label"] == "ham" and 0.5 < result["prob"] <= 1
    assert typed["label"] == "spam"  # what the page showed, from the downloaded bundle
    if os.environ.get("SAVE_SCREENSHOTS"):
        shutil.copy(tmp_path / "export_text.png", REPO / "docs" / "export_text.png")


def test_upload_names_from_the_browser_never_choose_a_server_path(server, tmp_path):
    """The browser names the file `/abs/.../victim.csv`, then `../../../victim.csv`; each time a server file
    of the same size sits at that path. The app must store the upload's own bytes under its own name,
    import them, and leave the planted files alone."""
    from playwright.sync_api import expect, sync_playwright

    from tests.test_text import texts_csv

    data = texts_csv(tmp_path).read_bytes()
    planted = data.replace(b",spam", b",junk")  # same size, other classes: importing it would show "junk"
    home = tmp_path / "home"  # the server's TRANSFERLAB_HOME; uploads went to home/sessions/<id>/uploads/<name>
    victims = [tmp_path / "outside" / "victim.csv", home / "victim.csv"]
    for victim in victims:
        victim.parent.mkdir(parents=True, exist_ok=True)
        victim.write_bytes(planted)
    names = [str(victims[0]), "../../../victim.csv"]  # absolute; and climbing from uploads/ up to home/
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for name in names:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            _watched(page)
            page.goto(server)
            page.get_by_text("Upload images (a zip of class folders)").click()
            page.locator("input[type=file]").set_input_files({"name": name, "mimeType": "text/csv", "buffer": data})
            expect(page.get_by_test_id("stMetricValue").first).to_have_text("80", timeout=60_000)
            expect(page.get_by_text("Texts per class")).to_be_visible(timeout=60_000)
            expect(page.get_by_text("junk")).to_have_count(0)
            expect(page.get_by_text("spam", exact=True).first).to_be_visible()
            page.close()
        browser.close()
    for victim in victims:
        assert victim.read_bytes() == planted
    stored = sorted(home.glob("sessions/*/uploads/*.csv"))
    assert len(stored) == 2 and all(p.read_bytes() == data and len(p.stem) == 32 for p in stored)
    outside_workspaces = {p for p in tmp_path.rglob("*.csv") if home / "sessions" not in p.parents}
    assert outside_workspaces == set(victims) | {tmp_path / "messages.csv"}


def _ws(page) -> str:
    """The workspace id in the page's address (each page puts it back within moments of a sidebar click)."""
    page.wait_for_url(re.compile(r"[?&]ws=[0-9a-f]{32}"), timeout=30_000)
    return re.search(r"[?&]ws=([0-9a-f]{32})", page.url).group(1)


def _go(page, name: str, heading: str | None = None) -> None:
    """Click a sidebar link and wait until that page is on show (a reload before then would reload the old one)."""
    from playwright.sync_api import expect

    try:
        page.get_by_role("link", name=name).click(timeout=30_000)
    except Exception:
        page.screenshot(path="/tmp/fail.png", full_page=True)
        raise
    expect(page.get_by_role("heading", name=heading or name, exact=True)).to_be_visible(timeout=120_000)


def _watched(page) -> None:
    """The tests' timeout, and a warning in the run's summary if the tab crashes or its script fails: CI has
    seen pages go blank (nothing but an image) and the cause is not known yet."""
    page.set_default_timeout(120_000)
    page.on("crash", lambda _: warnings.warn("the browser tab crashed (its renderer died)", stacklevel=1))
    page.on("pageerror", lambda error: warnings.warn(f"a script error in the page: {error}", stacklevel=1))


def _result_shown(page, seconds: float = 600) -> None:
    """Wait on the Train page until the run's result is on show. The page updates itself when the run ends; only
    if it has gone blank (seen in CI: nothing left but an image, the run finished ten minutes before) is it
    reloaded, which must find the run. A page that stays drawn but never shows the result still fails."""
    from playwright.sync_api import expect

    result = page.get_by_text("held-out test split").first
    heading = page.get_by_role("heading", name="Train", exact=True)
    deadline = time.monotonic() + seconds
    while True:
        try:
            expect(result).to_be_visible(timeout=30_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            if not heading.is_visible():
                warnings.warn("the Train page went blank while a run was shown; reloaded", stacklevel=1)
                page.reload()


def _runs_offered(page) -> list[str]:
    """The run ids the Runs page offers to open (its table is drawn on a canvas; its chooser is text).

    The chooser is found by its label: CI once saw the Train page's "Base model" chooser still in the page
    beside it after the switch to Runs (a stale element of the page before); that is said as a warning."""
    boxes = page.get_by_test_id("stSelectbox")
    if boxes.count() > 1:
        warnings.warn(f"{boxes.count()} choosers on the Runs page: {boxes.all_inner_texts()}", stacklevel=1)
    boxes.filter(has=page.get_by_text("Run", exact=True)).click()
    names = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return names


def _train_predict(page) -> None:
    """On the Train page: the quick 'predict' strategy, then Train."""
    _go(page, "Train")
    page.locator("label").filter(has_text=re.compile(r"\(predict\)$")).click()
    page.get_by_role("button", name="Train", exact=True).click()


def test_work_survives_page_switches_reloads_and_other_sessions(server, tmp_path):
    """Upload, leave and come back: still loaded. Train, go to Runs, reload: the run completes and opens.
    Two sessions train at once: both complete, in submission order, each seeing only its own runs."""
    from playwright.sync_api import expect, sync_playwright

    from tlcore import runs

    archive = tmp_path / "my_shapes.zip"
    archive.write_bytes(_shapes_zip())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        first, second = (browser.new_context(viewport={"width": 1280, "height": 900}).new_page() for _ in range(2))
        for page in (first, second):
            _watched(page)
            page.goto(server)
        first.get_by_text("Upload images (a zip of class folders)").click()
        first.locator("input[type=file]").set_input_files(str(archive))
        expect(first.get_by_test_id("stMetricValue").first).to_have_text("28", timeout=60_000)
        ws = _ws(first)
        _go(first, "Analyse")
        expect(first.get_by_text("Dataset: my_shapes").first).to_be_visible()
        assert _ws(first) == ws
        _go(first, "Data")
        expect(first.get_by_text("Loaded: my_shapes")).to_be_visible()
        expect(first.get_by_test_id("stMetricValue").first).to_have_text("28")
        assert _ws(first) == ws

        _train_predict(first)  # submitted first
        expect(first.get_by_text(re.compile("^Run .*: "))).to_be_visible(timeout=60_000)
        _train_predict(second)  # the Shapes sample, submitted second
        expect(second.get_by_text(re.compile("^Run .*: "))).to_be_visible(timeout=60_000)
        _go(first, "Runs")
        assert _ws(first) == ws
        first.reload()
        expect(first.get_by_role("heading", name="Runs", exact=True)).to_be_visible(timeout=60_000)
        assert _ws(first) == ws
        expect(first.get_by_role("button", name="Open this run")).to_be_visible(timeout=600_000)
        listed = {"first": _runs_offered(first)}
        first.get_by_role("button", name="Open this run").click()
        _go(first, "Results")
        expect(first.get_by_text("Test accuracy", exact=True).first).to_be_visible(timeout=60_000)

        _go(second, "Runs")
        expect(second.get_by_role("button", name="Open this run")).to_be_visible(timeout=600_000)
        listed["second"] = _runs_offered(second)
        browser.close()

    home = tmp_path / "home" / "sessions"
    (mine,) = (home / ws / "runs").iterdir()
    (theirs,) = [d for w in home.iterdir() if w.name != ws for d in (w / "runs").glob("*") if d.is_dir()]
    assert runs.state(mine) == runs.state(theirs) == "complete"
    assert (mine / "bundle.zip").is_file() and (theirs / "bundle.zip").is_file()
    # one worker, in submission order: the second run was written after the first had finished
    assert (mine / "report.json").stat().st_mtime <= (theirs / "request.json").stat().st_mtime or \
        (mine / "report.json").stat().st_mtime <= (theirs / "dataset" / "dataset.json").stat().st_mtime
    # each session is offered its own run alone, named by its dataset ("my_shapes, predict, 100.0%, 4 Dec 16:59")
    assert [len(listed["first"]), len(listed["second"])] == [1, 1]
    assert listed["first"][0].startswith("my_shapes, ") and listed["second"][0].startswith("shapes, ")


def _plain_png(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (120, 90), tuple(int(c) for c in rng.integers(0, 80, 3)))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return {"name": f"plain_{seed}.png", "mimeType": "image/png", "buffer": buffer.getvalue()}


def test_gather_with_the_webcam_then_analyse_train_and_download(server, tmp_path):
    """No zip: two classes named in the browser, one filled from Chromium's fake camera, one from files;
    then the guided flow: Next, Analyse, "Train the recommended model", download the bundle."""
    from playwright.sync_api import expect, sync_playwright

    from tlcore.predict import load_bundle

    camera_flags = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    per_class = 6
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS + camera_flags)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        _watched(page)
        page.goto(server)
        page.get_by_text("Gather images here").click()
        for name in ("webcam", "plain"):
            page.get_by_label("New class").fill(name)
            page.get_by_role("button", name="Add class").click()
            expect(page.get_by_text(f"{name}: 0 images", exact=True)).to_be_visible()
        # Photos go to the first class, "webcam". The camera restarts after each photo and the fake device's
        # picture moves with time since its start: a different wait each time gives a different frame. The same
        # photo twice is kept once, and a click while the camera restarts takes nothing (both seen in CI), so
        # photos are taken until the count reaches per_class (a slow rerun may count one more: allowed).
        webcam_count = page.get_by_text(re.compile(r"^webcam: \d+ images?$"))
        taken = 0
        for attempt in range(3 * per_class):
            if taken >= per_class:
                break
            page.wait_for_timeout(800 + 500 * (attempt % 4))
            page.get_by_role("button", name="Take Photo").click()
            try:
                expect(webcam_count).not_to_have_text(re.compile(rf"^webcam: {taken} images?$"), timeout=20_000)
            except AssertionError:
                continue
            taken = int(re.search(r"\d+", webcam_count.inner_text()).group())
        assert taken >= per_class, f"{taken} webcam photos counted after {3 * per_class} clicks"
        done = page.get_by_text(f"plain: {per_class} images", exact=True)
        for _ in range(3):  # a rerun after the last photo may replace the uploader under the first attempt
            page.wait_for_timeout(1500)
            uploader = page.get_by_test_id("stFileUploader").filter(has_text="Add images to plain")
            uploader.locator("input[type=file]").set_input_files([_plain_png(i) for i in range(per_class)])
            try:
                expect(done).to_be_visible(timeout=20_000)
                break
            except AssertionError:
                continue
        expect(done).to_be_visible()
        # Enter commits the name and its rerun ends before the click: clicked at once, a rerun still running from
        # the uploads could redraw the panel and the dataset kept its default name (seen under load, also after
        # the Enter): typed again until the name has stayed through a pause
        name = page.get_by_label("Dataset name")
        for _ in range(3):
            name.fill("from the browser")
            name.press("Enter")
            page.wait_for_timeout(1500)
            try:
                expect(name).to_have_value("from the browser", timeout=5_000)
                break
            except AssertionError:
                continue
        expect(name).to_have_value("from the browser")
        page.get_by_role("button", name="Create the dataset").click()
        expect(page.get_by_text("Loaded: from the browser")).to_be_visible(timeout=120_000)
        expect(page.get_by_test_id("stMetricValue").first).to_have_text(str(taken + per_class))
        full_page_shot(page, tmp_path / "gather.png")

        page.get_by_role("button", name="Next: Analyse").click()
        expect(page.get_by_role("heading", name="Analyse", exact=True)).to_be_visible(timeout=120_000)
        page.get_by_role("button", name="Analyse", exact=True).click()
        expect(page.get_by_role("heading", name=re.compile("^Our advice: "))).to_be_visible(timeout=300_000)
        page.get_by_role("button", name="Train the recommended model").click()
        heading = page.get_by_role("heading", name="Train", exact=True)
        try:
            expect(heading).to_be_visible(timeout=120_000)
        except AssertionError:  # seen in CI: a blank page after the switch (the run submitted, the address still
            warnings.warn("the page went blank on the switch to Train; reloaded", stacklevel=1)
            page.reload()  # Analyse's); reloaded, the page the address names is drawn, and Train must find the run
            drawn = page.get_by_role("heading", name="Analyse", exact=True).or_(heading).first
            expect(drawn).to_be_visible(timeout=120_000)
            if not heading.is_visible():
                _go(page, "Train")
        _result_shown(page)
        expect(page.get_by_text("Always answering the largest class")).to_be_visible()
        page.get_by_role("button", name="Next: Results").click()
        expect(page.get_by_role("heading", name="Results", exact=True)).to_be_visible(timeout=120_000)
        page.get_by_role("button", name="Next: Export").click()
        button = page.get_by_role("button", name="Download the trained model (bundle.zip)")
        expect(button).to_be_visible(timeout=600_000)
        with page.expect_download() as download:
            button.click()
        bundle_zip = tmp_path / "gathered_bundle.zip"
        download.value.save_as(bundle_zip)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        browser.close()

    assert sorted(load_bundle(bundle_zip).labels) == ["plain", "webcam"]
    stored = list((tmp_path / "home").glob("sessions/*/gather/files/*.jpg")) + \
        list((tmp_path / "home").glob("sessions/*/gather/files/*.png"))
    assert len(stored) == 2 * per_class and all(len(p.stem) == 32 for p in stored)  # server-made names
    if os.environ.get("SAVE_SCREENSHOTS"):
        shutil.copy(tmp_path / "gather.png", REPO / "docs" / "gather.png")
