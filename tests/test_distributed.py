"""Keras Tuner's chief/worker mode: a chief and two worker processes share one head search."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tlcore.data import import_dataset
from tlcore.errors import SettingError
from tlcore.samples import sample_path
from tlcore.train import SearchConfig, TrainConfig, train
from tlcore.train.distributed import parse_address


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_addresses_are_checked():
    assert parse_address("127.0.0.1:8000") == ("127.0.0.1", "8000")
    with pytest.raises(SettingError, match="HOST:PORT"):
        parse_address("8000")


@pytest.mark.slow
def test_chief_and_two_workers_spread_the_trials(tmp_path):
    from tlcore.features import extract_features
    from tlcore.train.search import make_tuner

    dataset = import_dataset(sample_path("shapes"), tmp_path / "ws")
    address = f"127.0.0.1:{_free_port()}"
    run_dir = tmp_path / "ws" / "runs" / "shared-run"
    env = os.environ | {"CUDA_VISIBLE_DEVICES": ""}
    workers = [subprocess.Popen([sys.executable, "-m", "tlcore", "search-worker", str(run_dir), "--chief", address,
                                 "--id", f"tuner{i}", "--wait-seconds", "300"],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    try:
        config = TrainConfig(strategies=("extract",), image_size=96, baselines=(), budget_seconds=400,
                             search=SearchConfig(max_trials=6, max_epochs=15, chief_address=address,
                                                 worker_grace_seconds=60))
        result = train(dataset, config, tmp_path / "ws", run_id="shared-run")
        outputs = [w.communicate(timeout=300) for w in workers]
    finally:
        for w in workers:
            w.kill()
    assert [w.returncode for w in workers] == [0, 0], [o[1][-2000:] for o in outputs]
    ran = [json.loads((run_dir / "search" / f"ran_by_tuner{i}.json").read_text()) for i in range(2)]
    assert all(ran), f"a worker ran no trial: {ran}"
    assert sorted(ran[0] + ran[1]) == sorted(f"{i}" for i in range(6))  # every trial ran exactly once

    # A single process reading the same trials back picks the same best head as the chief did.
    chosen = next(c for c in result.candidates if c.name == "keras_head").params
    train_features = extract_features(dataset.files("train"), result.backbone).features
    single = make_tuner(train_features, len(dataset.classes), SearchConfig(max_trials=6), 0, float("inf"),
                        run_dir / "search")
    trials = single.oracle.trials
    top = max(t.score for t in trials.values())
    assert chosen["trials"] == 6 and len(trials) == 6
    assert chosen["search_score"] == top == single.oracle.get_best_trials(1)[0].score
    assert trials[chosen["trial"]].hyperparameters.values == {k: chosen[k] for k in
                                                              trials[chosen["trial"]].hyperparameters.values}
