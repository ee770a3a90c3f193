"""`serve` as visitors meet it (issue 39): loopback only by default; a shared address behind the password, which
travels in the app's environment and never on a command line; a real browser kept out until it gives it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, descendants

pytestmark = pytest.mark.slow
PASSWORD = "correct horse 39"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> set[str]:
    """The addresses with a socket listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, _, hex_port = local.partition(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:  # four little-endian 32-bit words
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return bool(condition())


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def proc_file(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


@pytest.fixture
def serve(tmp_path):
    """Start `python -m tlcore serve` with extra arguments and environment; SIGTERM it afterwards."""
    started = []

    def start(*args: str, **env: str) -> tuple[subprocess.Popen, int]:
        port = free_port()
        environ = {k: v for k, v in os.environ.items() if k not in ("TRANSFERLAB_PASSWORD", "TRANSFERLAB_ADDRESS")}
        environ |= {"TRANSFERLAB_QUEUE": "sqlite", "TRANSFERLAB_HOME": str(tmp_path / "home"), **env}
        process = subprocess.Popen([sys.executable, "-m", "tlcore", "serve", "--port", str(port), "--workers", "1",
                                    *args], cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        started.append(process)
        assert wait_for(lambda: healthy(port) or process.poll() is not None, 120), "the app did not start"
        assert process.poll() is None, process.stderr.read()
        return process, port

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def test_a_default_serve_listens_on_loopback_only(serve):
    process, port = serve()
    assert listening(port) == {"127.0.0.1"}
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    first = process.stderr.readline()
    assert first.startswith(f"serve: the app at http://localhost:{port}, listening on 127.0.0.1 only: this machine "
                            "alone can reach it")


def test_a_shared_serve_keeps_its_password_off_every_command_line(serve):
    process, port = serve("--address", "0.0.0.0", TRANSFERLAB_PASSWORD=PASSWORD)
    assert listening(port) == {"0.0.0.0"}
    assert wait_for(lambda: len(descendants(process.pid)) >= 3, 60)  # the app, the worker and its process
    secret = PASSWORD.encode()
    children = descendants(process.pid)
    assert not any(secret in proc_file(pid, "cmdline") for pid in children | {process.pid})
    holders = {pid for pid in children if secret in proc_file(pid, "environ")}
    apps = {pid for pid in children if b"streamlit" in proc_file(pid, "cmdline")}
    assert holders and holders <= apps  # the app has it; the job workers do not


def test_serve_on_every_interface_without_a_password_refuses_to_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TRANSFERLAB_PASSWORD"} | {"TRANSFERLAB_QUEUE": "sqlite"}
    done = subprocess.run([sys.executable, "-m", "tlcore", "serve", "--address", "0.0.0.0", "--port", str(free_port())],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "TRANSFERLAB_PASSWORD" in lines[0]
    assert "--password-file FILE" in lines[0]


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")
def test_a_browser_sees_only_the_password_field_until_it_gives_the_password(serve):
    from playwright.sync_api import expect, sync_playwright

    _, port = serve("--address", "0.0.0.0", TRANSFERLAB_PASSWORD=PASSWORD)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-sync"]
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=flags)
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/data")  # the first visit asks for a page's own address
            password = page.locator("input[type=password]")
            expect(password).to_be_visible(timeout=60_000)
            page.wait_for_timeout(1500)
            assert page.locator("input[type=file]").count() == 0
            assert page.get_by_role("heading", name="Data").count() == 0
            password.fill("a guess")
            page.get_by_role("button", name="Enter").click()
            expect(page.get_by_text("That is not the password")).to_be_visible(timeout=30_000)
            assert page.locator("input[type=file]").count() == 0
            assert page.get_by_role("heading", name="Data").count() == 0
            page.locator("input[type=password]").fill(PASSWORD)
            page.get_by_role("button", name="Enter").click()
            expect(page.get_by_role("heading", name="Data").first).to_be_visible(timeout=60_000)
            assert page.locator("input[type=password]").count() == 0
            page.screenshot(path=str(Path(os.environ.get("TMPDIR", "/tmp")) / "transferlab-gate-in.png"))
        finally:
            browser.close()
