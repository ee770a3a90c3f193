"""Keras Tuner's chief/worker mode: a chief and two worker processes share one head search."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tlcore.errors import SettingError
from tlcore.train import SearchConfig
from tlcore.train.search_workers import parse_address


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_chief_oracle_stops_a_distributed_search_once_more_trials_cannot_pay(tmp_path, monkeypatch):
    """The oracle the workers ask for trials gets the same stops as a single process's (the inner split's size,
    the baselines' cross-validated accuracy to beat), and a stop it makes is recorded in the run."""
    from types import SimpleNamespace

    import numpy as np

    from tlcore.train import TrainConfig, search, search_workers

    built = {}
    oracle = SimpleNamespace(trials={}, stopped_because="4 trials in a row did not beat the baselines' accuracy")

    def fake_make_tuner(*args, **kwargs):
        built.update(kwargs)
        return SimpleNamespace(oracle=oracle, search=lambda *a, **k: None)

    monkeypatch.setattr(search_workers, "make_tuner", fake_make_tuner)
    stops = []
    best = SimpleNamespace(candidates=[SimpleNamespace(params={"cv_accuracy": 0.875})],
                           record_stop=lambda stage, why, left: stops.append((stage, why)))
    y = np.repeat(np.arange(2), 20)
    ctx = SimpleNamespace(
        config=TrainConfig(search=SearchConfig(chief_address=f"127.0.0.1:{_free_port()}")),
        features={"train": SimpleNamespace(features=np.random.default_rng(0).normal(size=(40, 8)))},
        labels={"train": y}, n_classes=2, run_dir=tmp_path, deadline=float("inf"), progress=None, best=best,
        seconds_left=lambda: 60.0, groups=lambda split: None,
    )
    assert search.run(ctx) == []
    _, score = search.inner_split(y, 0)
    assert built["inner_items"] == len(score) > 0 and built["to_beat"] == 0.875
    assert stops == [("the rest of the Keras head search", oracle.stopped_because)]


def test_addresses_are_checked():
    assert parse_address("127.0.0.1:8000") == ("127.0.0.1", "8000")
    with pytest.raises(SettingError, match="HOST:PORT"):
        parse_address("8000")


@pytest.mark.slow
def test_chief_and_two_workers_spread_the_trials(tmp_path):
    """The chief (`train --chief`) and two workers, three processes on loopback, bounded in time."""
    from tlcore.image.data import import_dataset
    from tlcore.image.extract import extract_features
    from tlcore.samples import sample_path
    from tlcore.train.search import make_tuner

    workspace = tmp_path / "ws"
    address = f"127.0.0.1:{_free_port()}"
    run_dir = workspace / "runs" / "shared-run"
    env = os.environ | {"CUDA_VISIBLE_DEVICES": ""}
    tlcore = [sys.executable, "-m", "tlcore"]
    workers = [subprocess.Popen([*tlcore, "search-worker", str(run_dir), "--chief", address, "--id", f"tuner{i}",
                                 "--wait-seconds", "300"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    # every trial is run (no early stop), so the test can check that they were spread
    chief = subprocess.Popen([*tlcore, "train", "sample:shapes", "--strategy", "extract", "--baselines", "",
                              "--trials", "6", "--image-size", "96", "--budget-seconds", "400", "--chief", address,
                              "--no-early-stop",
                              "--run-id", "shared-run", "--workspace", str(workspace), "--json"],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        chief_out, chief_err = chief.communicate(timeout=600)
        outputs = [w.communicate(timeout=300) for w in workers]
    finally:
        for process in (chief, *workers):
            process.kill()
    assert chief.returncode == 0, chief_err[-2000:]
    assert [w.returncode for w in workers] == [0, 0], [o[1][-2000:] for o in outputs]
    ran = [json.loads((run_dir / "search" / f"ran_by_tuner{i}.json").read_text()) for i in range(2)]
    assert all(ran), f"a worker ran no trial: {ran}"
    assert sorted(ran[0] + ran[1]) == sorted(f"{i}" for i in range(6))  # every trial ran exactly once

    # A single process reading the same trials back agrees with the chief on the best head.
    chosen = json.loads(chief_out)["selected"]["params"]
    dataset = import_dataset(sample_path("shapes"), tmp_path / "other")
    train_features = extract_features(dataset.files("train"), _backbone(96)).features
    single = make_tuner(train_features, len(dataset.classes), SearchConfig(max_trials=6), 0, float("inf"),
                        run_dir / "search")
    trials = single.oracle.trials
    assert chosen["trials"] == 6 and len(trials) == 6
    assert chosen["search_score"] == max(t.score for t in trials.values()) == single.oracle.get_best_trials(1)[0].score
    values = trials[chosen["trial"]].hyperparameters.values
    assert values == {k: chosen[k] for k in values}


def _backbone(size: int):
    from tlcore.image.bases import load_backbone

    return load_backbone(image_size=size)
