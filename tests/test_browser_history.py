"""The browser's Back button in the guided flow (issue 35, item 6): one history entry per step change.

Streamlit pushes a history entry for every change of the address's query, and `?ws=` (the session's workspace)
used to be dropped by each page switch and put back by the next page: three entries for "Next", two for a sidebar
link, so the first Back stayed on the same page. Drives Debian's Chromium as tests/test_browser.py does.
"""

from __future__ import annotations

from tests.test_browser import CHROMIUM, FLAGS, pytestmark, server  # noqa: F401 (the app's fixture and markers)


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
