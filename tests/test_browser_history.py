"""The browser's Back button in the guided flow (issue 35, item 6): one history entry per step change; and the
same file uploaded again after it was removed (item 13).

Streamlit pushes a history entry for every change of the address's query, and `?ws=` (the session's workspace)
used to be dropped by each page switch and put back by the next page: three entries for "Next", two for a sidebar
link, so the first Back stayed on the same page. Drives Debian's Chromium as tests/test_browser.py does.
"""

from __future__ import annotations

from tests.test_browser import (  # noqa: F401 (the app's fixture and markers)
    CHROMIUM,
    FLAGS,
    _shapes_zip,
    pytestmark,
    server,
)


def test_each_step_change_adds_one_history_entry_and_back_returns(server):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server)

        def on(title: str) -> None:
            expect(page.locator("h1")).to_have_text(title, timeout=120_000)
            expect(page).to_have_url(f"{server}/{'' if title == 'Data' else title.lower()}?ws={workspace}")

        expect(page.get_by_role("heading", name="Data")).to_be_visible(timeout=120_000)
        page.wait_for_url("**/?ws=*", timeout=30_000)
        workspace = page.url.split("?ws=", 1)[1]
        start = page.evaluate("history.length")

        page.get_by_role("button", name="Next: Analyse").click()
        on("Analyse")
        page.get_by_role("button", name="3. Train").click()  # the steps at the top
        on("Train")
        page.get_by_test_id("stSidebar").get_by_role("link", name="Runs").click()
        on("Runs")
        page.wait_for_timeout(1000)  # let any late query write land before counting
        assert page.evaluate("history.length") == start + 3

        for title in ("Train", "Analyse", "Data"):
            page.go_back()
            on(title)
        page.go_forward()
        on("Analyse")
        browser.close()


# One file input on the page (the one of the removed upload has gone), and it holds no file name.
FRESH_INPUT = "() => { const i = document.querySelectorAll('input[type=file]'); return i.length === 1 && !i[0].value }"


def remove(page, chip) -> None:
    """Press the chip's remove button until the chip goes: a press while the page still reruns after the import
    can be lost."""
    from playwright.sync_api import expect

    for _ in range(3):
        page.get_by_role("button", name="Remove my_shapes.zip").click()
        try:
            expect(chip).to_have_count(0, timeout=20_000)
            return
        except AssertionError:
            continue
    raise AssertionError("pressing the remove button three times did not remove the upload")


def test_the_same_file_uploaded_again_after_its_removal_is_taken(server, tmp_path):  # noqa: F811
    """The browser's file input kept the removed file's name, so choosing the same file again fired no change and
    the uploader stayed empty; a removed upload now gets a fresh uploader."""
    from playwright.sync_api import expect, sync_playwright

    archive = tmp_path / "my_shapes.zip"
    archive.write_bytes(_shapes_zip())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server)
        expect(page.get_by_role("heading", name="Data")).to_be_visible(timeout=120_000)
        page.get_by_text("Upload images (a zip of class folders)").click()
        chip = page.get_by_test_id("stFileChipName")
        for _ in range(2):
            page.locator("input[type=file]").set_input_files(str(archive))
            expect(chip).to_have_text("my_shapes.zip", timeout=60_000)
            expect(page.get_by_text("Loaded: my_shapes")).to_be_visible(timeout=60_000)
            remove(page, chip)
            page.wait_for_function(FRESH_INPUT, timeout=60_000)  # fails if the removed file's name stays in it
        browser.close()
