"""Who may use a served TransferLab (issue 39): loopback by default, a password when shared, wrong tries paced."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from tlcore import access, cli
from tlcore.access import AccessError, Throttle


@pytest.fixture
def fresh_throttle():
    access.THROTTLE.reset()
    yield access.THROTTLE
    access.THROTTLE.reset()


def test_loopback_addresses_are_told_from_shared_ones():
    for host in ("127.0.0.1", "127.8.0.2", "localhost", "LOCALHOST", "::1", "[::1]"):
        assert access.is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "example.org", "my-laptop"):
        assert not access.is_loopback(host), host


def test_the_address_is_loopback_unless_given_or_set(monkeypatch):
    monkeypatch.delenv(access.ADDRESS_ENV, raising=False)
    assert access.address() == "127.0.0.1"
    monkeypatch.setenv(access.ADDRESS_ENV, "0.0.0.0")
    assert access.address() == "0.0.0.0"
    assert access.address("192.168.1.20") == "192.168.1.20"  # --address wins over the environment
    with pytest.raises(AccessError, match="needs a host"):
        access.address("  ")
    with pytest.raises(AccessError, match="expected a host name or IP address"):
        access.address("http://0.0.0.0")


def test_the_start_up_line_says_who_can_reach_the_app():
    local = access.reach_sentence("127.0.0.1", 8501, password=False)
    assert "http://localhost:8501" in local and "this machine alone" in local and "--address" in local
    shared = access.reach_sentence("0.0.0.0", 8502, password=True)
    assert "every network interface" in shared and "anyone who can reach this machine" in shared
    assert "must give the password" in shared
    assert "proxy" in access.reach_sentence("0.0.0.0", 8502, password=False)
    assert "http://[fd00::5]:8502" in access.reach_sentence("fd00::5", 8502, password=True)


def test_a_shared_address_needs_a_password(tmp_path):
    with pytest.raises(AccessError) as refused:
        access.serve_password(None, False, "0.0.0.0", environ={})
    message = str(refused.value)
    assert "TRANSFERLAB_PASSWORD" in message and "--password-file FILE" in message and "--no-password" in message
    assert access.serve_password(None, True, "0.0.0.0", environ={}) is None  # a proxy checks who comes in
    assert access.serve_password(None, False, "127.0.0.1", environ={}) is None  # this machine only
    assert access.serve_password(None, False, "0.0.0.0", environ={"TRANSFERLAB_PASSWORD": "s3cret"}) == "s3cret"
    file = tmp_path / "password"
    file.write_text("from a file\n", encoding="utf-8")
    assert access.serve_password(file, False, "0.0.0.0", environ={"TRANSFERLAB_PASSWORD": "other"}) == "from a file"
    with pytest.raises(AccessError, match="--no-password was given but TRANSFERLAB_PASSWORD is set"):
        access.serve_password(None, True, "0.0.0.0", environ={"TRANSFERLAB_PASSWORD": "s3cret"})


def test_an_empty_password_is_no_password():
    assert access.configured_password({"TRANSFERLAB_PASSWORD": ""}) is None
    with pytest.raises(AccessError):
        access.serve_password(None, False, "0.0.0.0", environ={"TRANSFERLAB_PASSWORD": ""})


def test_a_session_is_shut_out_until_it_gave_the_password():
    with_password = {"TRANSFERLAB_PASSWORD": "s3cret"}
    assert access.shut_out({}, with_password)
    assert not access.shut_out({access.ADMITTED_KEY: True}, with_password)
    assert not access.shut_out({}, {})


def test_password_files_are_read_or_refused_in_words(tmp_path):
    file = tmp_path / "password"
    file.write_text("correct horse battery staple\r\nsecond line ignored\n", encoding="utf-8")
    assert access.read_password_file(file) == "correct horse battery staple"
    file.chmod(0o644)
    assert "chmod 600" in access.loose_file_note(file)
    file.chmod(0o600)
    assert access.loose_file_note(file) == ""
    with pytest.raises(AccessError, match="cannot be read"):
        access.read_password_file(tmp_path / "missing")
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(AccessError, match="no password on its first line"):
        access.read_password_file(tmp_path / "empty")


def test_the_password_goes_to_the_app_through_its_environment_only():
    env = access.child_environment("s3cret", {"PATH": "/bin", "TRANSFERLAB_PASSWORD": "old"})
    assert env == {"PATH": "/bin", "TRANSFERLAB_PASSWORD": "s3cret"}
    assert "TRANSFERLAB_PASSWORD" not in access.child_environment(None, {"TRANSFERLAB_PASSWORD": "old"})


def test_passwords_compare_by_digest():
    assert access.same_password("s3cret", "s3cret")
    assert not access.same_password("s3cre", "s3cret") and not access.same_password("", "s3cret")
    assert access.same_password("mot de passe é", "mot de passe é")


class FakeTime:
    def __init__(self) -> None:
        self.now, self.slept = 1000.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def test_wrong_tries_are_answered_slower_and_slower():
    fake = FakeTime()
    throttle = Throttle(first_delay=1.0, max_delay=30.0, max_wait=60.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(6):
        assert not throttle.check("guess", "s3cret")
    assert fake.slept == [1.0, 2.0, 4.0, 8.0, 16.0]  # the first try at once, then each wait doubles
    assert throttle.check("s3cret", "s3cret")  # the right one still gets in, after its turn
    assert fake.slept[-1] == 30.0  # capped at max_delay


def test_a_right_password_is_answered_at_once_when_nobody_guessed():
    fake = FakeTime()
    throttle = Throttle(clock=fake.clock, sleep=fake.sleep)
    assert throttle.check("s3cret", "s3cret") and throttle.check("s3cret", "s3cret")
    assert fake.slept == []


def test_guessing_from_many_sessions_at_once_gains_nothing():
    fake = FakeTime()
    throttle = Throttle(first_delay=1.0, max_delay=30.0, max_wait=60.0, clock=fake.clock, sleep=lambda s: None)
    for _ in range(4):
        throttle.check("guess", "s3cret")  # four wrong tries: the next turn is 8 s after the last
    turns = []
    with pytest.raises(AccessError, match="too many wrong passwords"):
        for _ in range(100):  # tries that arrive together (nobody has slept yet) queue for their turns
            turns.append(throttle._next_turn)
            throttle.check("guess", "s3cret")
    assert len(turns) < 10  # refused unchecked once the turn is more than a minute away


def test_wrong_tries_are_forgotten_after_a_quiet_while():
    fake = FakeTime()
    throttle = Throttle(forget_after=900.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        throttle.check("guess", "s3cret")
    fake.now += 901
    fake.slept.clear()
    assert throttle.check("s3cret", "s3cret") and fake.slept == []


def test_serve_on_a_shared_address_without_a_password_exits_2(monkeypatch, capsys):
    monkeypatch.delenv("TRANSFERLAB_PASSWORD", raising=False)
    monkeypatch.delenv("TRANSFERLAB_ADDRESS", raising=False)
    assert cli.main(["serve", "--address", "0.0.0.0", "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: serving on 0.0.0.0")
    assert "TRANSFERLAB_PASSWORD" in err[0] and "--password-file FILE" in err[0]
    monkeypatch.setenv("TRANSFERLAB_ADDRESS", "0.0.0.0")  # the environment's address is checked the same way
    assert cli.main(["serve", "--workers", "1"]) == 2
    assert "no password is set" in capsys.readouterr().err


def test_serve_takes_a_password_file_or_no_password_not_both(tmp_path, capsys):
    with pytest.raises(SystemExit) as ended:
        cli.main(["serve", "--password-file", str(tmp_path / "p"), "--no-password"])
    assert ended.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


# --- the gate in app.py ----------------------------------------------------------------------------------------


def app() -> AppTest:
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=120)


def test_with_a_password_the_app_shows_only_the_password_field(monkeypatch, fresh_throttle):
    monkeypatch.setenv("TRANSFERLAB_PASSWORD", "s3cret")
    at = app().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["TransferLab"]
    assert len(at.text_input) == 1 and at.text_input[0].label == "Password"
    assert not at.file_uploader and not at.radio and not at.metric  # no page ran: not even Data's choices
    assert "ws" not in at.query_params  # no workspace was made


def test_a_wrong_password_keeps_the_visitor_out_and_the_right_one_lets_them_in(monkeypatch, fresh_throttle):
    monkeypatch.setenv("TRANSFERLAB_PASSWORD", "s3cret")
    at = app().run()
    at.text_input[0].input("guess")
    at.button[0].click().run()
    assert not at.exception
    assert "not the password" in at.error[0].value
    assert [t.value for t in at.title] == ["TransferLab"] and not at.radio
    at.text_input[0].input("s3cret")
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value == "Data" and at.radio  # the Data page
    at.run()  # the browser session stays in
    assert at.title[0].value == "Data" and "Password" not in [t.label for t in at.text_input]


def test_without_a_password_the_app_opens_on_the_data_page(monkeypatch):
    monkeypatch.delenv("TRANSFERLAB_PASSWORD", raising=False)
    at = app().run()
    assert not at.exception and at.title[0].value == "Data"
