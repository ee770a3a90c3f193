"""Fair shares where users meet them: the job queue refuses a workspace's extra jobs while another workspace's
still queue, an import over the share is refused with nothing kept, and the Runs page shows and frees the space."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from tlcore import jobs, quota, runs
from tlcore.data import import_data
from tlcore.samples import sample_path
from tlcore.train import SearchConfig, TrainConfig

TINY = TrainConfig(strategies=("extract",), image_size=64, budget_seconds=60, baselines=("ridge",),
                   search=SearchConfig(max_trials=0))


@pytest.fixture
def sqlite_queue(monkeypatch, tmp_path):
    monkeypatch.setenv("TRANSFERLAB_QUEUE", "sqlite")
    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path / "home"))
    jobs.queue.cache_clear()
    yield
    jobs.queue.cache_clear()


def test_a_workspace_past_its_jobs_waits_while_another_still_queues(tmp_path, sqlite_queue, monkeypatch):
    import dataclasses

    monkeypatch.setenv(quota.JOBS_ENV, "2")
    first, second = tmp_path / "a", tmp_path / "b"
    shapes = import_data(sample_path("shapes"), first)
    queued = [jobs.submit_training(first, shapes.stored_in, dataclasses.replace(TINY, seed=s)) for s in (0, 1)]
    with pytest.raises(quota.QuotaError, match="already has 2 jobs queued or running"):
        jobs.submit_training(first, shapes.stored_in, dataclasses.replace(TINY, seed=2))
    assert len(list((first / "runs").iterdir())) == 2  # the refused press left no run behind
    other = import_data(sample_path("shapes"), second)
    assert runs.state(jobs.submit_training(second, other.stored_in, TINY)) == "queued"
    jobs.cancel(queued[0])
    assert runs.state(jobs.submit_training(first, shapes.stored_in, dataclasses.replace(TINY, seed=2))) == "queued"


def test_an_import_over_the_workspace_share_is_refused_and_keeps_nothing(tmp_path, monkeypatch):
    from tlcore.errors import TLCoreError

    workspace = tmp_path / "ws"
    import_data(sample_path("digits"), workspace)  # what the workspace already holds stays
    tiny = quota.Shares(quota_mb=0.01)  # 10 kB, under the 1 MB the setting allows: less than any dataset's records
    monkeypatch.setattr(quota.Shares, "from_env", classmethod(lambda cls, environ=None: tiny))
    with pytest.raises(TLCoreError, match=r"over its quota of .*, so it was not kept; delete a dataset"):
        import_data(sample_path("shapes"), workspace)
    names = [p.name for p in (workspace / "datasets").iterdir()]
    assert len(names) == 1 and names[0].startswith("digits") and not any(n.startswith(".partial") for n in names)


def test_the_runs_page_shows_what_the_workspace_keeps_and_deletes_an_item(tmp_path, monkeypatch):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()  # the Data page loads the sample
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    said = " ".join(c.value for c in at.caption)
    assert "of its" in said or "MB" in said or "kB" in said, said
    deletes = [b for b in at.button if b.key and b.key.startswith("delete:datasets:")]
    assert deletes, "the loaded sample dataset is listed with a Delete button"
    deletes[0].click().run()
    assert not at.exception
    assert not [b for b in at.button if b.key and b.key.startswith("delete:datasets:")]
