"""One BLAS thread per working process (`tlcore.threads`), unless the setting asks for another number."""

from __future__ import annotations

import re

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from tlcore import cli
from tlcore.errors import SettingError
from tlcore.threads import THREADS_VARIABLE, blas_threads, limit_blas_threads


@pytest.fixture
def restored():
    """The test process's BLAS threads as they were, whatever a test sets."""
    with threadpool_limits(limits=None):
        yield


def _blas() -> set[int]:
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def test_the_setting_chooses_the_threads_and_the_default_is_one(monkeypatch, restored):
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    assert limit_blas_threads() == 1 and _blas() == {1}
    monkeypatch.setenv(THREADS_VARIABLE, "2")
    assert limit_blas_threads() == 2 and _blas() == {2}


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_setting_that_is_not_a_count_is_refused_in_words(monkeypatch, capsys, tmp_path, value):
    monkeypatch.setenv(THREADS_VARIABLE, value)
    said = f"{THREADS_VARIABLE}='{value}' is not a whole number of threads of at least 1; set it to e.g. 2"
    with pytest.raises(SettingError, match=re.escape(said)):
        blas_threads()
    assert cli.main(["train", "sample:shapes", "--workspace", str(tmp_path)]) == cli.EXIT_REFUSED
    assert capsys.readouterr().err.startswith(f"error: {THREADS_VARIABLE}='{value}' is not a whole number")
    assert not (tmp_path / "runs").exists()  # refused before any work
