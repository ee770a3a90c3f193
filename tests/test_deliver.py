"""From pressing Train to a downloadable bundle (`tlcore.deliver`): a first model on the cached features whatever
the way, the user's wall times in the report, and the budget kept with the bundle inside it."""

from __future__ import annotations

import json

import pytest

from tlcore.data import import_data
from tlcore.deliver import train_and_bundle
from tlcore.samples import sample_path
from tlcore.train import FinetuneConfig, SearchConfig, TrainConfig


@pytest.fixture
def shapes(tmp_path):
    return import_data(sample_path("shapes"), tmp_path / "ws")


def test_fine_tuning_alone_still_has_a_head_on_the_features_as_its_first_model(shapes, tmp_path):
    config = TrainConfig(strategies=("finetune",), image_size=64, budget_seconds=300, stop_early=False,
                         finetune=FinetuneConfig(epochs=2, augment=False))
    done = train_and_bundle(shapes, config, tmp_path / "ws")
    report = done.result.report
    board = {row["model"]: row for row in report["leaderboard"]}
    assert board["ridge"]["strategy"] == "extract" and "finetune_top12" in board  # the first head, then fine-tuning
    first = json.loads((done.result.run_dir / "best_so_far.json").read_text())["first_seconds"]
    assert first < board["finetune_top12"]["train_seconds"]  # before fine-tuning had finished anything
    assert done.first_bundle is not None and done.first_bundle.is_file()
    assert report["strategies"] == ["finetune"] and "finetune" in report["per_strategy"]
    assert done.seconds_to_first_bundle < done.seconds_to_final_bundle
    stored = json.loads((done.result.run_dir / "report.json").read_text())
    assert stored["wall"]["seconds_to_final_bundle"] == done.seconds_to_final_bundle  # what the pages read
    assert "seconds_waiting" not in stored["wall"]  # not a job: its time counts from the call


def test_a_head_on_the_features_at_the_ceiling_ends_fine_tuning_early_and_says_why(shapes, tmp_path):
    from tlcore import costs

    config = TrainConfig(strategies=("finetune",), image_size=64, budget_seconds=300)
    done = train_and_bundle(shapes, config, tmp_path / "ws")
    anytime = done.result.report["anytime"]
    base = done.result.report["backbone"]
    # what every run pays beside its way's own work is recorded for the next expected times on this machine
    assert costs.measured(base, 64, "first_bundle") > 0 and costs.measured(base, 64, "finish_scale") > 0
    if done.result.report["leaderboard"][0]["val_accuracy"] < 1.0:
        pytest.skip("the first head did not get every validation shape right on this machine")
    assert [s["skipped"] for s in anytime["stopped_early"]] == ["strategy finetune"]
    assert done.result.selected.strategy == "extract"


def test_a_run_without_test_mistakes_explains_none_and_says_so(shapes, tmp_path, monkeypatch):
    import tlcore.explain
    import tlcore.train

    real = tlcore.train.train

    def no_mistakes(*args, **kwargs):
        result = real(*args, **kwargs)
        result.report["misclassified"] = []  # every test item right, as Shapes often is
        return result

    monkeypatch.setattr(tlcore.train, "train", no_mistakes)
    monkeypatch.setattr(tlcore.explain, "explain_run", lambda *a, **k: pytest.fail("nothing to explain"))
    steps = []
    config = TrainConfig(strategies=("extract",), image_size=64, budget_seconds=300)
    done = train_and_bundle(shapes, config, tmp_path / "ws", progress=lambda p: steps.append(p.stage))
    assert done.bundle.is_file() and "explain" not in steps
    assert done.wall()["explanations"] == "none to make: no mistakes on the test split"


@pytest.mark.slow
def test_a_short_budget_ends_with_a_downloadable_bundle_within_it(shapes, tmp_path):
    budget = 60.0
    config = TrainConfig(strategies=("finetune",), image_size=96, budget_seconds=budget, stop_early=False,
                         search=SearchConfig(max_trials=3), finetune=FinetuneConfig(epochs=200, patience=200))
    done = train_and_bundle(shapes, config, tmp_path / "ws")
    assert done.bundle is not None and done.bundle.is_file()
    epochs = done.result.report["leaderboard"]
    assert any(row["strategy"] == "finetune" for row in epochs)  # it fine-tuned, and was stopped by the time
    assert done.seconds_to_final_bundle <= 1.1 * budget, done.result.report["wall"]  # the run's own clock


def test_a_worker_process_keeps_the_base_loaded_between_jobs(shapes):
    from tlcore.modality import modality_of

    modality = modality_of(shapes)
    choice = modality.resolve_base(shapes, None, 64)
    assert modality.load_base(choice) is modality.load_base(choice)  # built once per process, reused by every job
