"""Anytime training: a model from the first fitted candidate on, replaced only by winning on validation; stages
that cannot pay are skipped and said."""

from __future__ import annotations

import numpy as np
import pytest

from tlcore.train.anytime import BEST_FILE, BestSoFar, read_best
from tlcore.train.candidate import Candidate
from tlcore.train.select import ceiling_within_reach, one_standard_error_choice


def _candidate(name: str, right: int, n: int, complexity: int) -> Candidate:
    """A model with `right` of n validation items right (labels all 0)."""
    logits = np.zeros((n, 2))
    logits[:right, 0] = 1.0
    logits[right:, 1] = 1.0
    return Candidate("extract", name, logits, logits, 1.0, 1, 1.0, complexity=complexity)


def test_the_ceiling_is_where_the_selection_would_keep_the_simpler_model():
    n, y = 37, np.zeros(37, int)
    assert ceiling_within_reach(36 / 37, n) and not ceiling_within_reach(35 / 37, n)
    simple = _candidate("simple", 36, n, 1)
    perfect = _candidate("complex", 37, n, 5)
    assert one_standard_error_choice([perfect, simple], y) is simple  # 36 of 37 at the ceiling: more cannot pay
    near = _candidate("simple", 35, n, 1)
    assert one_standard_error_choice([perfect, near], y) is perfect  # below it, a better model can still win


def test_a_later_model_replaces_the_best_only_by_winning_on_validation(tmp_path):
    n = 60
    firsts = []
    best = BestSoFar(tmp_path, np.zeros(n, int), np.zeros(10, int), 0.0, "efficientnet_lite0",
                     on_first=firsts.append)
    first = _candidate("first", 50, n, 2)
    best.offer(first)
    assert best.best is first and len(firsts) == 1 and read_best(tmp_path)["model"] == "first"
    best.offer(_candidate("lucky", 52, n, 4))  # better, but within one standard error, and more complex
    assert best.best is first and best.replaced == 0
    best.offer(_candidate("better", 59, n, 3))
    assert best.best.name == "better" and best.replaced == 1 and len(firsts) == 1
    written = read_best(tmp_path)
    assert written["model"] == "better" and written["val_accuracy"] == pytest.approx(59 / 60)
    assert (tmp_path / BEST_FILE).is_file() and written["replaced"] == 1
    assert best.should_stop("the search", 30.0) and best.stops[0]["seconds_given_back"] == 30.0


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    from tlcore.image.data import import_dataset
    from tlcore.samples import sample_path

    return import_dataset(sample_path("shapes"), tmp_path_factory.mktemp("ws"))


def test_the_first_model_is_a_whole_interim_run_with_its_bundle_and_the_search_is_skipped(shapes, tmp_path):
    from tlcore.export import export_bundle
    from tlcore.predict import load_bundle, predict
    from tlcore.train import SearchConfig, TrainConfig, train

    config = TrainConfig(strategies=("extract",), image_size=96, baselines=("logistic_regression", "knn"),
                         search=SearchConfig(max_trials=2), budget_seconds=120)
    bundles = []
    result = train(shapes, config, tmp_path, first_model=lambda interim: bundles.append(export_bundle(interim)))
    anytime = result.report["anytime"]
    assert len(bundles) == 1 and bundles[0].parent.name == "first"
    first = load_bundle(bundles[0])
    assert first.manifest["model"] == "logistic_regression"  # the first baseline, a model before the others
    answers = predict(first, shapes.files("test"))
    assert np.mean([a["label"] == shapes.classes[y] for a, y in zip(answers, shapes.labels("test"), strict=True)]) > .9
    assert 0 < anytime["time_to_first_model"] <= anytime["time_to_final_model"]
    # the model kept came with the first (nothing replaced it): its time is the first's, not the run's end
    assert anytime["replaced"] == 0 and anytime["time_to_kept_model"] == anytime["time_to_first_model"]
    # the drawn shapes are all right on validation: the search cannot pay, so it is skipped, and said
    assert result.report["leaderboard"][0]["val_accuracy"] == 1.0
    assert "keras_head" not in {row["model"] for row in result.report["leaderboard"]}
    baselines, stop = anytime["stopped_early"]  # knn, then the search: neither can beat all right
    assert baselines["skipped"] == "the baselines knn" and "validation items right" in baselines["reason"]
    assert "head search" in stop["skipped"] and "validation items right" in stop["reason"]
    assert anytime["unused_seconds"] > 0
    assert anytime["unused_seconds"] == pytest.approx(120 - result.report["seconds"], abs=0.2)


def test_every_stage_runs_when_early_stopping_is_off(shapes, tmp_path):
    from tlcore.train import SearchConfig, TrainConfig, train

    config = TrainConfig(strategies=("extract",), image_size=96, baselines=("logistic_regression",),
                         search=SearchConfig(max_trials=1), budget_seconds=120, stop_early=False)
    result = train(shapes, config, tmp_path)
    assert "keras_head" in {row["model"] for row in result.report["leaderboard"]}
    assert result.report["anytime"]["stopped_early"] == []


def test_the_search_stops_once_trials_stop_paying():
    from types import SimpleNamespace

    import keras_tuner as kt

    from tlcore.train.tuner import DeadlineOracle

    oracle = DeadlineOracle(deadline=float("inf"), stale_trials=3, inner_items=50,
                            objective=kt.Objective("val_accuracy", "max"), max_trials=12)

    def scores(*values):
        oracle.trials = {f"{i:02d}": SimpleNamespace(score=v) for i, v in enumerate(values)}
        return oracle._cannot_pay()

    assert scores(0.70, 0.80, 0.82, 0.81) == ""  # two trials without a real gain: go on
    stopped = scores(0.70, 0.80, 0.82, 0.81, 0.83)  # within one standard error (5.9%) of 0.80
    # the split named with its score (walk 8 read "the best (97.1%)" beside the head's 83.8% on validation)
    assert stopped == ("3 trials in a row scored no more than the best trial's 80.0% plus 5.9 points, a lead chance "
                       "explains on the 50 training items the search holds out (not the validation split)")
    assert scores(0.70, 0.80, 0.95, 0.81) == ""  # 0.95 was a real gain: the count starts again
    assert "no trial could lead" in scores(0.70, 0.98)  # 49 of 50: at what the inner split can resolve
    oracle.to_beat = 0.85  # the baselines' cross-validated accuracy: trials under it are no gain from the start
    assert scores(0.70, 0.80, 0.88).startswith(
        "3 trials in a row scored no more than the baselines' 85.0% (cross-validated on the training split) plus 5.4 "
        "points")
    assert scores(0.70, 0.80, 0.97) == ""  # a real gain over the baselines
    oracle.to_beat = None
    oracle.stale_trials = 0
    assert scores(0.70, 0.80, 0.82, 0.81, 0.83) == ""


@pytest.mark.parametrize("share", [None, 1.0])
def test_the_search_keeps_to_its_share_of_time(tmp_path, share):
    """With a share of one first trial, the pace the first trial (the default head) shows leaves room for no
    other, and the search says why it ended; without a share the same search runs all its trials."""
    import keras

    from tlcore.train.config import SearchConfig
    from tlcore.train.stages import Deadline
    from tlcore.train.tuner import make_tuner

    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    x = (rng.normal(size=(120, 8)) + 0.5 * np.eye(3, 8)[y]).astype("float32")
    onehot = keras.utils.to_categorical(y, 3)
    deadline = Deadline(float("inf"))
    tuner = make_tuner(x, 3, SearchConfig(max_trials=3, max_epochs=3), 0, float("inf"), tmp_path, share=share,
                       deadline_callback=deadline)
    tuner.search(x[:90], onehot[:90], validation_data=(x[90:], onehot[90:]), verbose=0, callbacks=[deadline])
    finished = [t for t in tuner.oracle.trials.values() if t.score is not None]
    if share is None:
        assert len(finished) == 3 and tuner.oracle.stopped_because == ""
    else:
        assert len(finished) == 1 and "the search had its share of time (1 times its first trial" in \
            tuner.oracle.stopped_because
        assert deadline.deadline < float("inf")  # a running trial would stop there too


@pytest.mark.parametrize("stop_early", [True, False])
def test_a_run_that_compares_everything_runs_every_trial_whatever_the_share(shapes, tmp_path, stop_early):
    """`--no-early-stop` (every stage, to compare them all) also lifts the search's share of time: a wall-clock
    share would end runs meant to be compared at different trials, so the same data would score differently."""
    from tlcore.train import SearchConfig, TrainConfig, train

    config = TrainConfig(strategies=("extract",), image_size=96, baselines=(), budget_seconds=120,
                         search=SearchConfig(max_trials=2, max_epochs=2, share=1e-9), stop_early=stop_early)
    result = train(shapes, config, tmp_path)
    trials = list((result.run_dir / "search").rglob("trial.json"))
    assert len(trials) == (1 if stop_early else 2)
    stops = " ".join(stop["reason"] for stop in result.report["anytime"]["stopped_early"])
    assert ("the search had its share of time" in stops) == stop_early


def test_a_run_of_several_ways_has_a_head_on_the_features_as_its_first_model(shapes, tmp_path):
    from tlcore.train import SearchConfig, TrainConfig, train

    # "all" trained predict first, and its first model, the one offered for download early, was the base's own
    # answers (a walk: 46.2% on digits' test, under a best so far of 97.5%)
    config = TrainConfig(strategies=("predict", "extract"), image_size=96, baselines=("logistic_regression",),
                         search=SearchConfig(max_trials=1), budget_seconds=120)
    firsts = []
    result = train(shapes, config, tmp_path, first_model=firsts.append)
    assert [first.selected.strategy for first in firsts] == ["extract"]
    assert firsts[0].selected.name == "logistic_regression"
    assert result.report["strategies"] == ["predict", "extract"]  # the report keeps the ways as asked
    assert {row["strategy"] for row in result.report["leaderboard"]} == {"predict", "extract"}


def test_a_first_model_with_no_bundle_does_not_stop_the_run(shapes, tmp_path):
    """k-nearest neighbours has no Keras form: its early bundle cannot be built, and the run goes on."""
    from tlcore.export import export_bundle
    from tlcore.train import SearchConfig, TrainConfig, train

    config = TrainConfig(strategies=("extract",), image_size=96, baselines=("knn",), search=SearchConfig(max_trials=0),
                         budget_seconds=60)
    result = train(shapes, config, tmp_path, first_model=lambda interim: export_bundle(interim, tflite=False))
    assert result.selected.name == "knn" and result.report["anytime"]["time_to_first_model"] > 0
    assert not (result.run_dir / "first" / "bundle.zip").exists()


def test_baselines_stop_after_two_that_do_not_become_the_best(tmp_path):
    n = 60
    best = BestSoFar(tmp_path, np.zeros(n, int), np.zeros(10, int), 0.0)
    best.offer(_candidate("logistic_regression", 50, n, 2))
    assert not best.stale(2, "the baselines knn, extra_trees", 10.0)
    best.offer(_candidate("rbf_svm", 49, n, 3))
    assert not best.stale(2, "the baselines knn, extra_trees", 10.0)
    best.offer(_candidate("linear_svm", 51, n, 4))  # within one standard error and more complex: not the best
    assert best.stale(2, "the baselines knn, extra_trees", 10.0)
    assert best.stops[-1]["skipped"] == "the baselines knn, extra_trees" and "last 2 models" in best.stops[-1]["reason"]
    assert "(Logistic regression)" in best.stops[-1]["reason"]  # in the pages' words, not "extract/logistic_..."
    best.offer(_candidate("keras_head", 60, n, 5))  # a real gain: the count starts again
    assert best.best.name == "keras_head" and best.unchanged == 0


def test_a_run_skips_the_baselines_that_cannot_pay_and_says_so(shapes, tmp_path):
    from tlcore.train import SearchConfig, TrainConfig, train

    names = ("logistic_regression", "rbf_svm", "linear_svm", "knn", "extra_trees")
    config = TrainConfig(strategies=("extract",), image_size=96, baselines=names, search=SearchConfig(max_trials=0),
                         budget_seconds=120)
    result = train(shapes, config, tmp_path)
    ran = [row["model"] for row in result.report["leaderboard"]]
    skipped = [s for s in result.report["anytime"]["stopped_early"] if s["skipped"].startswith("the baselines")]
    assert skipped, "the drawn shapes are all right from the first baseline on: later ones cannot pay"
    assert all(name not in ran for name in skipped[0]["skipped"].removeprefix("the baselines ").split(", "))
    assert ran == ["logistic_regression"] and "validation items right" in skipped[0]["reason"]  # at the ceiling
