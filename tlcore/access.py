"""Who may use a served TransferLab: where it listens, its password, and wrong tries answered slower and slower.

The logic of the gate, without Streamlit: `app.py` shows the password field and asks `check`;
`python -m tlcore serve` asks `refuse_unguarded` before it starts anything. The password reaches
the app's process through its environment (`TRANSFERLAB_PASSWORD`), never a command line, where
every user of the machine could read it in the process list.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import os
import stat
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from .errors import TLCoreError

PASSWORD_ENV = "TRANSFERLAB_PASSWORD"
ADDRESS_ENV = "TRANSFERLAB_ADDRESS"
LOCAL_ADDRESS = "127.0.0.1"
MAX_PASSWORD_CHARS = 1024
ADMITTED_KEY = "transferlab-admitted"  # the app's session-state key, set once a browser session gave the password


class AccessError(TLCoreError):
    """A server that would let anyone in, a password that cannot be read, or too many wrong tries."""


# --- where it listens ---------------------------------------------------------------------------------------


def address(given: str | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """The address to listen on: `given` (`serve --address`), else `$TRANSFERLAB_ADDRESS`, else loopback only."""
    chosen = (given if given is not None else environ.get(ADDRESS_ENV, "")).strip()
    if given is not None and not chosen:
        raise AccessError("--address needs a host to listen on, e.g. 127.0.0.1 (this machine) or 0.0.0.0 (every "
                          "network interface); got an empty one")
    if any(c.isspace() or c in "/@" for c in chosen):
        raise AccessError(f"expected a host name or IP address to listen on, e.g. 0.0.0.0; got {chosen!r}")
    return chosen or LOCAL_ADDRESS


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host`: localhost, 127.0.0.0/8 or ::1. Any other name counts as shared."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def reach_sentence(host: str, port: int, password: bool) -> str:
    """Where the app listens and who can reach it, for serve's start-up line."""
    every = host in ("0.0.0.0", "::", "[::]")
    where = f"every network interface ({host})" if every else host
    url_host = "localhost" if every or is_loopback(host) else f"[{host}]" if ":" in host and "[" not in host else host
    url = f"http://{url_host}:{port}"
    if is_loopback(host):
        guard = ", behind the password" if password else ""
        return f"the app at {url}, listening on {where} only: this machine alone can reach it{guard} " \
               f"(--address or {ADDRESS_ENV} to serve others)"
    guard = "and must give the password" if password else \
        "with no password (--no-password): the proxy in front must check who comes in"
    return f"the app at {url}, listening on {where}:{port}: anyone who can reach this machine can open it, {guard}"


# --- the password -------------------------------------------------------------------------------------------


def configured_password(environ: Mapping[str, str] = os.environ) -> str | None:
    """The app's password from `$TRANSFERLAB_PASSWORD`; None when unset or empty (no gate)."""
    return environ.get(PASSWORD_ENV) or None


def shut_out(session_state: Mapping, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a browser session must give the password first: one is set and this session has not given it."""
    return configured_password(environ) is not None and not session_state.get(ADMITTED_KEY)


def read_password_file(path: str | Path) -> str:
    """The password on the first line of `path` (its line end dropped); an `AccessError` if there is none."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            first = file.readline(MAX_PASSWORD_CHARS * 4 + 2)
    except OSError as error:
        raise AccessError(f"the password file {path} cannot be read ({error.strerror or error}); give a file "
                          "holding the password on its first line") from None
    try:
        password = first.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise AccessError(f"the password file {path} is not UTF-8 text; write the password on its first line") \
            from None
    if not password:
        raise AccessError(f"the password file {path} has no password on its first line; write one there")
    return password


def loose_file_note(path: str | Path) -> str:
    """A warning when others on the machine may read the password file (its mode allows group or others)."""
    with contextlib.suppress(OSError):
        mode = Path(path).stat().st_mode
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            return f"the password file {path} can be read by other users of this machine; chmod 600 {path}"
    return ""


def serve_password(password_file: str | Path | None, no_password: bool, host: str,
                   environ: Mapping[str, str] = os.environ) -> str | None:
    """The password `serve` hands the app: from `password_file`, else `$TRANSFERLAB_PASSWORD`, else None.

    Refuses (an `AccessError`) to serve a non-loopback address with no password unless `no_password`
    says a proxy checks who comes in, and refuses `no_password` beside a password (which one was meant?).
    """
    password = read_password_file(password_file) if password_file is not None else configured_password(environ)
    if no_password and password is not None:
        given = "--password-file" if password_file is not None else f"{PASSWORD_ENV} is set"
        raise AccessError(f"--no-password was given but {given}; drop --no-password to keep the password, or "
                          f"unset {PASSWORD_ENV} to serve without one")
    if password is None and not no_password and not is_loopback(host):
        raise AccessError(f"serving on {host} lets anyone who can reach this machine in, and no password is set; "
                          f"set one with {PASSWORD_ENV}=... (in the environment) or --password-file FILE, or give "
                          "--no-password when a proxy in front checks who comes in")
    return password


def child_environment(password: str | None, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The app process's environment: the password in `$TRANSFERLAB_PASSWORD` when there is one, else none."""
    env = dict(environ)
    env.pop(PASSWORD_ENV, None)
    if password is not None:
        env[PASSWORD_ENV] = password
    return env


def same_password(given: str, expected: str) -> bool:
    """Constant-time comparison of digests (so neither the content nor the length of the password leaks by timing)."""
    def digest(text: str) -> bytes:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()

    return hmac.compare_digest(digest(given), digest(expected))


# --- wrong tries, slower and slower ----------------------------------------------------------------------------


class Throttle:
    """Paces password checks for the whole app process, so a guesser gains nothing by opening more sessions.

    The first try is answered at once; after `n` recent wrong tries, each try waits its turn,
    `first_delay * 2 ** (n - 1)` seconds after the previous one (at most `max_delay`). A try whose
    turn is further off than `max_wait` is refused at once, unchecked. Wrong tries are forgotten
    after `forget_after` seconds without one.
    """

    def __init__(self, first_delay: float = 1.0, max_delay: float = 30.0, max_wait: float = 60.0,
                 forget_after: float = 900.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.first_delay, self.max_delay, self.max_wait, self.forget_after = \
            first_delay, max_delay, max_wait, forget_after
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.failures = 0
            self._last_failure = -float("inf")
            self._next_turn = -float("inf")

    def delay(self, failures: int) -> float:
        """Seconds between tries after `failures` recent wrong ones."""
        return 0.0 if failures <= 0 else min(self.first_delay * 2 ** min(failures - 1, 30), self.max_delay)

    def check(self, given: str, expected: str) -> bool:
        """Whether `given` is the password, answered after this try's turn; an `AccessError` when it is too far."""
        with self._lock:
            now = self.clock()
            if self.failures and now - self._last_failure > self.forget_after:
                self.failures, self._next_turn = 0, -float("inf")
            turn = max(now, self._next_turn)
            wait = turn - now
            if wait > self.max_wait:
                raise AccessError(f"too many wrong passwords were given to this server lately; try again in "
                                  f"{wait:.0f} s")
            self._next_turn = turn + self.delay(self.failures)
        if wait > 0:
            self.sleep(wait)
        right = len(given) <= MAX_PASSWORD_CHARS and same_password(given, expected)
        if not right:
            with self._lock:
                self.failures += 1
                self._last_failure = self.clock()
                self._next_turn = max(self._next_turn, self._last_failure + self.delay(self.failures))
        return right


THROTTLE = Throttle()  # one per process: the app's sessions share it


def check(given: str, expected: str) -> bool:
    """Whether `given` is the app's password, paced by the process's `THROTTLE`."""
    return THROTTLE.check(given, expected)
