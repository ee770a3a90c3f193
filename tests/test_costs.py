"""What each way costs on this machine (`tlcore.costs`): the expected times' parts, the machine's records,
and the timing done once per machine, base and size."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest

from tlcore import costs, paths
from tlcore.modality import BaseChoice


@pytest.fixture
def shapes(tmp_path):
    from tlcore.data import import_data
    from tlcore.samples import sample_path

    return import_data(sample_path("shapes"), tmp_path / "ws")


NO_GROUPS = SimpleNamespace(groups=lambda split=None: None)  # a dataset's items without groups
RATES = costs.Rates(forward=0.01, step=0.03, decode=0.002, head_fit=0.05, bundle=12.0, start=2.0)


def test_each_way_pays_the_start_and_the_bundle_and_fine_tuning_grows_with_epochs_and_items():
    counts = costs.Counts(train=200, val=40, test=40)
    found = costs.expected_seconds(RATES, counts, epochs=10)
    assert set(found) == {"predict", "extract", "finetune"}
    assert all(seconds >= RATES.start + RATES.bundle for seconds in found.values())
    assert found["predict"] < found["extract"] < found["finetune"]
    epochs_part = 10 * (200 * 0.03 + 40 * 0.01)  # every epoch trains on the training items and reads validation
    assert found["finetune"] - found["predict"] == pytest.approx(epochs_part, rel=0.25)
    more = costs.expected_seconds(RATES, costs.Counts(400, 40, 40), epochs=10)
    assert more["finetune"] > found["finetune"] + 10 * 200 * 0.03 * 0.9
    assert costs.expected_seconds(RATES, counts, epochs=20)["finetune"] > found["finetune"]
    capped = costs.expected_seconds(RATES, counts, epochs=10, budget=30.0)
    assert max(capped.values()) == 30.0  # no way is said to take longer than its budget lets it


def test_a_run_of_several_ways_pays_its_start_its_first_head_and_its_bundle_once():
    """Walk 6: an "all" run had no expected time, so its bar was the budget's share to the end. Several ways in one
    run are expected as that run: each way's own work once, what every run pays once, one final bundle."""
    counts = costs.Counts(train=200, val=40, test=40)
    rates = dataclasses.replace(RATES, first_head=0.5, head_trial=1.0, trace=2.0, finetune_bundle=20.0)
    parts = costs.expected_parts(rates, counts, epochs=10)
    alone = parts.each()
    assert alone == costs.expected_seconds(rates, counts, epochs=10)
    once = parts.shared + rates.bundle  # the start, the first model, the final result; the bundle of a head
    assert parts.seconds(["predict", "extract"]) == pytest.approx(alone["predict"] + alone["extract"] - once, abs=0.1)
    # fine-tuning's first head is extract's work where both run, and the run's bundle is the fine-tuned one
    together = alone["extract"] + alone["finetune"] - once - rates.first_head
    assert parts.seconds(["extract", "finetune"]) == pytest.approx(together, abs=0.1)
    assert parts.seconds(["predict", "extract", "finetune"]) == pytest.approx(together + alone["predict"] - once,
                                                                               abs=0.1)
    assert parts.seconds(["extract", "finetune"], budget=60.0) == 60.0
    assert parts.seconds(["none of these"]) is None
    ceiling = costs.expected_parts(rates, counts, epochs=10, at_ceiling=True)  # every run stops at its first head
    assert ceiling.seconds(["extract", "finetune"]) == ceiling.each()["extract"] == ceiling.each()["finetune"]
    assert costs.RunParts.from_dict(parts.to_dict()) == parts  # as the saved analysis keeps them


def test_finishing_a_result_has_a_fixed_part_and_a_machine_of_its_own_scales_it():
    """A rate per item alone, set on small sets, had put eurosat200's predict (2,000 items) at 8.5 s, measured 3.1."""
    small, large = costs.Counts(120, 30, 30), costs.Counts(1400, 300, 300)
    predict = {counts.total: costs.expected_seconds(RATES, counts, epochs=10)["predict"] for counts in (small, large)}
    extra = predict[2000] - predict[180]  # two results (the first model's and the final one) of 1,820 more items
    assert extra == pytest.approx(2 * 1820 * costs.FINISH_PER_ITEM, abs=0.1) and extra < predict[180]
    slower = costs.expected_seconds(dataclasses.replace(RATES, finish_scale=2.0), large, epochs=10)["predict"]
    assert slower - predict[2000] == pytest.approx(2 * costs.finish_seconds(2000), abs=0.1)
    quick = costs.expected_seconds(dataclasses.replace(RATES, predict=0.1), small, epochs=10)["predict"]
    assert predict[180] - quick == pytest.approx(RATES.predict - 0.1, abs=0.1)  # the base as it is, as timed here


def test_the_machine_keeps_its_last_measurements_and_reads_their_median(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path))
    assert costs.measured("base", 128, costs.BUNDLE) is None
    assert costs.guessed("image", "base", 128, costs.BUNDLE) == costs.BUNDLE_GUESS["image"]  # nothing run here yet
    for seconds in (30.0, 10.0, 20.0, 1000.0, 25.0, 22.0):
        costs.record("base", 128, costs.BUNDLE, seconds)
    assert costs.measured("base", 128, costs.BUNDLE) == 22.0  # the last five: 10, 20, 1000, 25, 22
    assert costs.guessed("image", "base", 128, costs.BUNDLE) == 22.0
    assert costs.measured("base", 224, costs.BUNDLE) is None  # another size is another key
    assert costs.guessed("image", "base", 224, costs.BUNDLE) == 22.0  # but its bundle is guessed from the base's others
    costs.record("minilm", None, "search_in_trials", 8.0)
    assert costs.recorded() == {"base@128": {costs.BUNDLE: 22.0}, "minilm": {"search_in_trials": 8.0}}
    stored = next(paths.cache_dir("costs").glob("*.json"))
    stored.write_text("{not json", encoding="utf-8")  # damaged: measured again, never trusted
    assert costs.measured("base", 128, costs.BUNDLE) is None
    costs.record("base", 128, costs.BUNDLE, 5.0)
    assert json.loads(stored.read_text(encoding="utf-8"))["base@128"][costs.BUNDLE] == [5.0]


def test_a_base_whose_bundles_cost_more_than_its_kinds_has_its_own_first_guess_until_this_machine_records(
        tmp_path, monkeypatch):
    """USE-m's bundles carry a 260 MB port: a new machine had expected GermEval's predict at 3.5 s from MiniLM's
    guess, measured 10.3-18.1 s."""
    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path))
    text = costs.guessed("text", "minilm_l6", None, costs.BUNDLE)
    assert text == costs.BUNDLE_GUESS["text"]
    assert costs.guessed("text", "use_multilingual", None, costs.BUNDLE) == 5.2 > 5 * text
    assert costs.guessed("text", "use_multilingual", None, "first_bundle") == 5.8
    assert costs.guessed("text", "use_multilingual", None, "start") == costs.START_GUESS["text"]  # others: the kind's
    costs.record("use_multilingual", None, costs.BUNDLE, 2.2)
    assert costs.guessed("text", "use_multilingual", None, costs.BUNDLE) == 2.2  # what this machine took wins


def test_bundles_recorded_before_tflite_became_a_request_are_not_read(tmp_path, monkeypatch):
    """A bundle recorded under "bundle" held two TFLite conversions (9 s, against 0.5 s for the Keras model the
    final bundle now holds): the times told to the user read the Keras bundle's own records and guess, and the
    TFLite copies have theirs."""
    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path))
    costs.record("base", 128, "bundle", 9.0)
    assert costs.guessed("image", "base", 128, costs.BUNDLE) == costs.BUNDLE_GUESS["image"] < 1.0
    assert costs.guessed("image", "base", 128, costs.TFLITE) == costs.TFLITE_GUESS["image"]
    assert costs.guessed("image", "base", 128, f"{costs.TFLITE}:finetune") == costs.FINETUNE_TFLITE_GUESS["image"]


def test_a_fine_tuning_step_is_timed_once_per_machine_base_size_and_depth(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path))
    calls = []

    def time_step(dataset, choice, blocks):
        calls.append((choice.name, choice.image_size, blocks))
        return 0.01, 0.02, 0.001, 3.0

    modality = SimpleNamespace(name="image", time_step=time_step, timing_tag=lambda dataset: "")
    monkeypatch.setattr(costs, "time_head_trial", lambda features, labels, **kwargs: 0.5)  # timed in its own test
    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(60, 8)), np.arange(60) % 3
    first = costs.measure_rates(modality, NO_GROUPS, BaseChoice("base", 128), 6, features, labels)
    again = costs.measure_rates(modality, NO_GROUPS, BaseChoice("base", 128), 6, features, labels)
    assert calls == [("base", 128, 6)] and (first.forward, first.step) == (again.forward, again.step) == (0.01, 0.02)
    costs.measure_rates(modality, NO_GROUPS, BaseChoice("base", 128), 12, features, labels)  # deeper: another step
    costs.measure_rates(modality, NO_GROUPS, BaseChoice("base", 160), 6, features, labels)  # another size
    assert calls[1:] == [("base", 128, 12), ("base", 160, 6)]
    assert first.head_fit > 0 and first.head_trial == 0.5 and first.bundle == costs.BUNDLE_GUESS["image"]
    assert first.trace == again.trace == 3.0  # recorded with the step


def test_at_the_ceiling_neither_the_step_nor_the_search_trial_is_timed_and_what_was_recorded_is_kept(
        tmp_path, monkeypatch):
    """Every run stops after its first head there, so the analysis does not spend seconds timing what no run does."""
    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path))
    timed = []
    modality = SimpleNamespace(name="image", timing_tag=lambda dataset: "",
                               time_step=lambda *args: timed.append("step") or (0.01, 0.02, 0.001, 3.0))
    monkeypatch.setattr(costs, "time_head_trial", lambda features, labels, **kwargs: timed.append("trial") or 0.5)
    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(60, 8)), np.arange(60) % 3
    capped = costs.measure_rates(modality, NO_GROUPS, BaseChoice("base", 128), 6, features, labels, at_ceiling=True)
    assert timed == [] and (capped.step, capped.trace, capped.head_trial) == (0.0, 0.0, 0.0) and capped.head_fit > 0
    costs.measure_rates(modality, NO_GROUPS, BaseChoice("base", 128), 6, features, labels)  # below it: timed and kept
    assert timed == ["step", "trial"]
    kept = costs.measure_rates(modality, NO_GROUPS, BaseChoice("base", 128), 6, features, labels, at_ceiling=True)
    assert timed == ["step", "trial"] and (kept.forward, kept.step, kept.trace) == (0.01, 0.02, 3.0)


def test_texts_of_another_length_class_time_their_own_step_and_keep_the_forward_rate_for_the_reserve(
        tmp_path, monkeypatch):
    from tlcore.text.finetune import length_class
    from tlcore.text.modality import MODALITY as TEXT

    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path))
    monkeypatch.setattr(costs, "time_head_trial", lambda features, labels, **kwargs: 0.5)
    calls = []

    def time_step(dataset, choice, blocks):
        calls.append(length_class(dataset.texts("train")))
        return 0.001 * calls[-1], 0.01 * calls[-1], 0.0, 2.0

    modality = SimpleNamespace(name="text", time_step=time_step, timing_tag=TEXT.timing_tag)
    short = SimpleNamespace(texts=lambda split: ["good film", "bad"] * 20, groups=NO_GROUPS.groups)
    long = SimpleNamespace(texts=lambda split: [" ".join(["word"] * 40)] * 40, groups=NO_GROUPS.groups)
    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(40, 8)), np.arange(40) % 2
    quick = costs.measure_rates(modality, short, BaseChoice("minilm", None), 2, features, labels)
    slow = costs.measure_rates(modality, long, BaseChoice("minilm", None), 2, features, labels)
    costs.measure_rates(modality, long, BaseChoice("minilm", None), 2, features, labels)  # kept: not timed again
    assert calls == [2, 64] and slow.step == 32 * quick.step
    # what fine-tuning's reserve reads, whatever the length class: the median of every class timed
    assert costs.measured("minilm", None, "forward") == pytest.approx((quick.forward + slow.forward) / 2)


def test_a_text_step_is_timed_on_texts_of_typical_length():
    from tlcore.text.finetune import typical_texts

    texts = ["a"] * 10 + ["b " * 9] * 10 + [" ".join(["c"] * 200)]  # mean about 14 words: the nine-word texts
    assert typical_texts(texts, 5) == ["b " * 9] * 5


def test_another_machine_does_not_read_this_ones_timings(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path))
    costs.record("base", 128, "step@6", 0.02)
    monkeypatch.setattr(costs, "machine_key", lambda: "another-machine")
    assert costs.measured("base", 128, "step@6") is None


@pytest.mark.slow
def test_the_timed_step_of_the_default_base_is_slower_than_its_forward_pass(shapes):
    from tlcore.image.modality import MODALITY

    choice = MODALITY.resolve_base(shapes, None, 96)
    forward, step, decode, trace = MODALITY.time_step(shapes, choice, 6)
    assert 0 < forward < step  # a training step also goes backward
    assert trace > 8 * step  # tracing takes longer than steps of a few items (`step` is per item)
    assert 0 < decode < 1


def test_a_frozen_head_at_the_ceiling_makes_every_trained_way_as_quick_as_its_first_head():
    counts = costs.Counts(train=200, val=40, test=40)
    free = costs.expected_seconds(RATES, counts, epochs=10)
    capped = costs.expected_seconds(RATES, counts, epochs=10, at_ceiling=True)
    assert capped["predict"] == free["predict"]
    assert capped["extract"] == capped["finetune"] < free["extract"] < free["finetune"]


def test_a_run_that_stops_after_its_first_head_is_said_so_beside_its_time():
    from tlcore.words import expected_accuracy_table

    parts = costs.expected_parts(RATES, costs.Counts(200, 40, 40), 10, at_ceiling=True)
    assert costs.RunParts.from_dict(json.loads(json.dumps(parts.to_dict()))).at_ceiling  # kept with the analysis
    advice = {"expected_accuracy": {"predict": 0.5, "extract": 1.0, "finetune": 1.0}, "expected_seconds": parts.each()}
    times = expected_accuracy_table({"recommendation": advice, "expected_parts": parts.to_dict()})[
        "Time to a downloadable model"].tolist()
    said = "(stops after its first model: it already gets validation as right as validation can tell)"
    assert not times[0].endswith(")") and all(t.endswith(said) for t in times[1:])
    below = costs.expected_parts(RATES, costs.Counts(200, 40, 40), 10)
    times = expected_accuracy_table({"recommendation": advice | {"expected_seconds": below.each()},
                                     "expected_parts": below.to_dict()})["Time to a downloadable model"].tolist()
    assert all(t.endswith(" s") for t in times)


def test_a_training_step_is_timed_apart_from_its_tracing():
    import keras

    from tlcore.train.stages import time_training_step

    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(3)])
    model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(size=(32, 16)).astype("float32")
    step, trace = time_training_step(model, x, keras.utils.to_categorical(np.arange(32) % 3, 3))
    assert step > 0 and trace > 32 * step  # tracing a step (a graph built) takes longer than running one


def test_a_search_trial_is_timed_on_the_features_and_grows_with_them():
    rng = np.random.default_rng(0)
    labels = np.arange(200) % 2
    features = rng.normal(size=(200, 16)) + labels[:, None]
    seconds = costs.time_head_trial(features, labels)
    assert 0 < seconds < 120
    found = costs.expected_seconds(dataclasses.replace(RATES, head_trial=seconds), costs.Counts(200, 40, 40), 10)
    assert found["extract"] >= RATES.search_trials * seconds  # the search's trials are in the extract time


@pytest.mark.parametrize("grouped", [False, True])
def test_the_trial_the_analysis_times_is_the_one_the_search_runs_first(tmp_path, monkeypatch, grouped):
    """Unseeded, its start changed how many epochs it trained (2.1-5.2 s on digits for one search's 55-59 s): the
    expected search moved with it. The same trial trains as many epochs to the same score, also where the items
    come in groups (the inner split keeps them whole)."""
    import tlcore.train.tuner as tuners
    from tlcore.features import Features
    from tlcore.train import search
    from tlcore.train.candidate import Context
    from tlcore.train.config import SearchConfig, TrainConfig

    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path / "home"))
    made, make = [], tuners.make_tuner

    def spy(*args, **kwargs):
        made.append(make(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(tuners, "make_tuner", spy)
    monkeypatch.setattr(search, "make_tuner", spy)
    rng = np.random.default_rng(0)
    labels = np.arange(150) % 3
    features = (rng.normal(size=(150, 16)) + 1.5 * np.eye(3, 16)[labels]).astype("float32")

    def first_trial():
        trial = made[-1].oracle.trials[min(made[-1].oracle.trials)]
        return trial.best_step, trial.score

    groups = np.array([f"g{i // 3}" for i in range(150)]) if grouped else None  # three items each
    costs.time_head_trial(features, labels, groups=groups)
    timed = first_trial()
    dataset = SimpleNamespace(classes=("a", "b", "c"), modality="image", groups=lambda split=None: groups)
    config = TrainConfig(backbone="base", search=SearchConfig(max_trials=1), stop_early=False)
    every = {split: Features(features, None, "k") for split in ("train", "val", "test")}
    ctx = Context(dataset, config, None, every, {"train": labels}, tmp_path, 1e18, 1.0, 100)
    search.run(ctx)
    assert first_trial() == timed


def test_a_search_that_ended_by_itself_or_at_its_share_teaches_the_next_expected_time_one_cut_by_the_deadline_not(
        tmp_path, monkeypatch):
    from tlcore.train.search import record_search

    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path))
    monkeypatch.setattr(costs, "time_head_trial", lambda features, labels, **kwargs: 2.0)
    ctx = SimpleNamespace(config=SimpleNamespace(backbone="base", search=SimpleNamespace(max_trials=12)))

    def tuner(why: str, trials: int):
        oracle = SimpleNamespace(stopped_because=why, trials=dict.fromkeys(f"{i:02d}" for i in range(trials)))
        return SimpleNamespace(seconds={"00": 4.0}, oracle=oracle)

    record_search(ctx, tuner("", 3), 60.0)  # the deadline stopped it after 3 trials: says nothing
    assert costs.measured("base", None, "search_in_trials") is None
    # until then, each kind of data's first guess (texts' searches are shorter in their first trials)
    assert costs.search_trials("base", "text") == costs.SEARCH_TRIALS["text"] < costs.SEARCH_TRIALS["image"]
    record_search(ctx, tuner("4 trials in a row did not beat the best", 6), 40.0)
    assert costs.measured("base", None, "search_in_trials") == 10.0
    modality = SimpleNamespace(name="image", time_step=lambda *a: (0.01, 0.02, 0.001, 2.0), timing_tag=lambda d: "")
    rng = np.random.default_rng(0)
    rates = costs.measure_rates(modality, NO_GROUPS, BaseChoice("base", 128), 6, rng.normal(size=(60, 8)),
                                np.arange(60) % 3)
    assert rates.search_trials == 10.0
    record_search(ctx, tuner("the search had its share of time (14 times its first trial, 56 s)", 5), 60.0)
    assert costs.search_trials("base", "image") == 12.5  # ended at its share: recorded as at least 15; the median
    slower = costs.expected_seconds(rates, costs.Counts(200, 40, 40), 10)["extract"]
    quicker = costs.expected_seconds(dataclasses.replace(rates, search_trials=5.0), costs.Counts(200, 40, 40), 10)
    assert slower - quicker["extract"] == pytest.approx(5 * 2.0, abs=0.1)


def test_the_first_head_is_fitted_as_the_run_fits_it_and_says_whether_validation_is_at_its_ceiling():
    rng = np.random.default_rng(0)
    labels = np.arange(120) % 3
    apart = rng.normal(size=(120, 8)) + 8 * np.eye(3, 8)[labels]  # far apart: every validation item right
    seconds, at_ceiling = costs.first_head_check(apart[:90], labels[:90], apart[90:], labels[90:], 3)
    assert seconds > 0 and at_ceiling
    mixed = rng.normal(size=(120, 8)) + 0.3 * np.eye(3, 8)[labels]  # overlapping: a later head could still lead
    assert costs.first_head_check(mixed[:90], labels[:90], mixed[90:], labels[90:], 3)[1] is False
    # with the first head's own seconds, a run at the ceiling is expected to take about that beyond its fixed parts
    quick = dataclasses.replace(RATES, first_head=seconds + 5.0)
    found = costs.expected_seconds(quick, costs.Counts(90, 30, 30), epochs=10, at_ceiling=True)
    assert found["finetune"] - found["predict"] == pytest.approx(seconds + 5.0 - 1.0, abs=0.2)


def test_fine_tuning_is_expected_to_pay_once_for_tracing_its_step_and_for_a_head_on_the_frozen_features():
    # digits (2026-12-05): tracing (about 5.7 s) and the head trained first (2.8 s) were outside the estimate,
    # 42.8 s expected against 64.6 s measured
    counts = costs.Counts(200, 40, 40)
    plain = costs.expected_seconds(RATES, counts, epochs=10)
    paid = costs.expected_seconds(dataclasses.replace(RATES, trace=4.0, head_trial=2.0), counts, epochs=10)
    assert paid["finetune"] - plain["finetune"] == pytest.approx(6.0, abs=0.1)
    assert paid["predict"] == plain["predict"]


def test_a_quick_first_head_is_expected_as_quick_as_the_analysis_timed_it():
    # Shapes' first head took 0.05 s in the analysis; a floor of 1 s had its runs expected at 2.5 s, measured 1.6-1.8
    counts = costs.Counts(90, 30, 30)
    found = costs.expected_seconds(dataclasses.replace(RATES, first_head=0.05), counts, epochs=10, at_ceiling=True)
    fixed = RATES.start + RATES.first_bundle + 2 * costs.finish_seconds(counts.total)
    assert found["extract"] == found["finetune"] == pytest.approx(fixed + RATES.bundle + 0.05, abs=0.05)
