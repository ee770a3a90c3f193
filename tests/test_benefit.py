"""What transfer saved (issue 33): the no-transfer baseline, the learning curve and their sentences."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pytest

import tlcore.benefit as benefit
from tlcore.benefit import BenefitConfig, BudgetError, CurvePoint, ScratchConfig, measure_benefit, train_scratch
from tlcore.benefit.config import Fitted
from tlcore.benefit.curve import (
    fraction_rows,
    more_data_sentence,
    skip_reason,
    summary_sentence,
    wilson_interval,
)
from tlcore.data import import_data
from tlcore.errors import DataError, SettingError, UnknownNameError
from tlcore.modality import modality_of
from tlcore.samples import sample_path

SIZE = 64  # px: the drawn shapes are 96 px; 64 keeps the base and the network quick


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """180 drawn shapes, 3 classes: 126 training, 27 validation, 27 test images."""
    return import_data(sample_path("shapes"), tmp_path_factory.mktemp("ws"))


@pytest.fixture(scope="module")
def support(tmp_path_factory):
    """120 support messages, 3 classes."""
    return import_data(sample_path("support"), tmp_path_factory.mktemp("ws"))


class CountingScratch:
    """A stand-in no-transfer model (answers the first class) that records the rows each fit was given."""

    def __init__(self) -> None:
        self.prepared, self.rows = 0, []

    def seconds_needed(self, dataset, config, items):
        return 0.1

    def least_words(self, config):
        return "one fit"

    def prepare_seconds(self, dataset, config):
        return 0.0

    def prepare(self, dataset, config, progress=None):
        self.prepared += 1
        return len(dataset.labels("test"))

    def fit(self, n_test, rows, deadline, config, progress=None):
        self.rows.append(np.asarray(rows))
        return Fitted(np.zeros(n_test, dtype=np.int64), 0.01, "first class always")


@pytest.fixture
def counted(monkeypatch, shapes):
    """The stand-in no-transfer model, and a count of the base's feature computations for the shapes."""
    stand_in = CountingScratch()
    monkeypatch.setattr(benefit, "scratch_for", lambda dataset: stand_in)
    modality, calls = modality_of(shapes), []
    real = modality.features

    def counting(dataset, choice, progress=None):
        calls.append(choice)
        return real(dataset, choice, progress)

    monkeypatch.setattr(modality, "features", counting)
    return stand_in, calls


# -- the curve's arithmetic


def test_fractions_are_stratified_nested_and_seeded():
    labels = np.repeat([0, 1, 2], [40, 20, 10])
    rows = {f: fraction_rows(labels, f, seed=3, n_classes=3) for f in (0.1, 0.25, 0.5, 1.0)}
    assert [counts for _, counts in rows.values()] == [[4, 2, 1], [10, 5, 3], [20, 10, 5], [40, 20, 10]]
    for fraction, (chosen, counts) in rows.items():
        assert np.bincount(labels[chosen], minlength=3).tolist() == counts, fraction
    assert set(rows[0.1][0]) <= set(rows[0.25][0]) <= set(rows[0.5][0]) <= set(rows[1.0][0])
    assert np.array_equal(fraction_rows(labels, 0.25, 3, 3)[0], rows[0.25][0])
    assert not np.array_equal(fraction_rows(labels, 0.25, 4, 3)[0], rows[0.25][0])


def test_wilson_interval_covers_the_accuracy_and_stays_in_range():
    low, high = wilson_interval(27, 27)
    assert high == 1.0 and 0.87 < low < 0.88  # 100% of 27 is not a certainty
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0


def test_a_fraction_with_fewer_than_two_per_class_says_why():
    reason = skip_reason(0.1, [4, 1, 3], ("ants", "bees", "wasps"), "images")
    assert "'bees'" in reason and "keeps 1" in reason and "at least 2" in reason
    assert skip_reason(0.1, [4, 2, 3], ("ants", "bees", "wasps"), "images") is None


def _point(fraction, accuracy, scratch, per_class=10, n=200):
    low, high = wilson_interval(round(accuracy * n), n)
    s_low, s_high = wilson_interval(round(scratch * n), n)
    return CurvePoint(fraction, per_class, (per_class,) * 3, accuracy, low, high, scratch, s_low, s_high)


def test_the_curve_in_words():
    rising = [_point(0.1, 0.80, 0.40, 4), _point(0.25, 0.93, 0.5, 12), _point(0.5, 0.94, 0.6, 24),
              _point(1.0, 0.98, 0.71, 48)]
    assert summary_sentence(rising, "images") == ("With transfer, 10% of your images (4 per class) already reach "
                                                  "80%; without it, all of them reach 71%.")
    assert more_data_sentence(rising, "images").startswith("More images would likely add about 4 points per doubling")
    flat = [_point(0.5, 0.90, 0.6), _point(1.0, 0.902, 0.7)]
    assert more_data_sentence(flat, "texts").startswith("More texts are unlikely to help much")
    behind = [_point(0.5, 0.60, 0.7), _point(1.0, 0.70, 0.90)]
    assert summary_sentence(behind, "texts").startswith("Without transfer, all of your texts reach 90%, more than "
                                                       "the 70% with transfer")
    skipped = [CurvePoint(0.1, 1, (1, 1, 1), skipped="too few"), _point(1.0, 0.9, 0.8)]
    assert "Too few points" in more_data_sentence(skipped, "images")


# -- the no-transfer models


def test_the_no_transfer_network_trains_and_answers_the_test_items(shapes):
    config = BenefitConfig(budget_seconds=12, image_size=SIZE, scratch=ScratchConfig(patience=1000))
    start, seen = time.monotonic(), []
    result = train_scratch(shapes, config, progress=seen.append)
    elapsed = time.monotonic() - start
    truth = shapes.labels("test")
    assert len(result.predictions) == len(truth) == 27
    assert result.accuracy == pytest.approx(np.mean(result.predictions == truth))
    assert result.low <= result.accuracy <= result.high
    assert result.params["epochs_run"] >= 1 and result.params["best_epoch"] >= 1  # trained, not the random weights
    assert result.params["stopped"] == "deadline"  # patience never runs out: the deadline stopped it
    assert elapsed < config.budget_seconds + 8  # stopped between batches, then answered the test items
    assert f"{SIZE} px" in result.model and set(result.to_dict()) >= {"accuracy", "seconds", "model"}
    batches = [p for p in seen if p.stage == "no transfer" and "batch" in p.message]
    assert len(batches) > 4 * (result.params["epochs_run"] - 1)  # 126 images, batches of 32: a job can stop within one


def test_tfidf_beats_chance_on_the_same_test_rows(support):
    result = train_scratch(support, BenefitConfig(budget_seconds=30))
    truth = support.labels("test")
    assert len(result.predictions) == len(truth)
    assert result.accuracy == pytest.approx(np.mean(result.predictions == truth))
    assert result.accuracy > 1 / len(support.classes) + 0.2
    assert "TF-IDF" in result.model
    # the same pipeline, refitted on the training texts with the chosen strength, gives these very answers
    from sklearn.pipeline import Pipeline

    from tlcore.benefit.scratch_text import classifier, vectoriser

    again = Pipeline([("tfidf", vectoriser()), ("clf", classifier(result.params["C"]))])
    again.fit(np.array(support.texts("train"), dtype=object), support.labels("train"))
    assert np.array_equal(again.predict(np.array(support.texts("test"), dtype=object)), result.predictions)


def test_the_no_transfer_model_is_chosen_by_kind_of_data(shapes, support):
    from tlcore.benefit.scratch_image import ImageScratch
    from tlcore.benefit.scratch_text import TextScratch

    assert isinstance(benefit.scratch_for(shapes), ImageScratch)
    assert isinstance(benefit.scratch_for(support), TextScratch)

    class Audio:
        modality = "audio"

    with pytest.raises(UnknownNameError, match="choose one of: image, text"):
        benefit.scratch_for(Audio())


# -- budgets


def test_a_budget_too_small_is_refused_with_the_time_needed(shapes, counted):
    config = BenefitConfig(budget_seconds=1, image_size=SIZE)
    needed = benefit.needed_seconds(shapes, config).seconds
    with pytest.raises(BudgetError, match=rf"needs at least .*give it at least {needed:g} s"):
        measure_benefit(shapes, config)
    stand_in, calls = counted
    assert stand_in.prepared == 0 and calls == []  # refused before anything was loaded or computed


def test_the_no_transfer_network_alone_refuses_too_small_a_budget(shapes):
    config = BenefitConfig(budget_seconds=2, image_size=SIZE)
    needed = benefit.needed_seconds(shapes, config, curve=False)
    assert needed.seconds > 2 and "epochs" in needed.words()
    with pytest.raises(BudgetError, match=r"got a budget of 2 s"):
        train_scratch(shapes, config)
    benefit.check_budget(shapes, BenefitConfig(budget_seconds=needed.seconds, image_size=SIZE), curve=False)


# -- the curve


def test_the_curve_has_a_point_per_fraction_and_computes_features_once(shapes, counted):
    stand_in, calls = counted
    result = measure_benefit(shapes, BenefitConfig(budget_seconds=120, image_size=SIZE))
    assert len(calls) == 1  # the base's features: once, whatever the number of fractions
    assert stand_in.prepared == 1  # the no-transfer model's data: read once too
    assert [p.fraction for p in result.curve] == [0.1, 0.25, 0.5, 1.0]
    assert [p.counts for p in result.curve] == [(4, 4, 4), (11, 11, 11), (21, 21, 21), (42, 42, 42)]
    assert [p.per_class for p in result.curve] == [4, 11, 21, 42]
    labels = shapes.labels("train")
    largest_first = [len(rows) for rows in stand_in.rows]
    assert largest_first == [126, 63, 33, 12]
    for rows, point in zip(stand_in.rows, reversed(result.curve), strict=True):
        assert np.bincount(labels[rows], minlength=3).tolist() == list(point.counts)
    for point in result.curve:
        assert point.low <= point.accuracy <= point.high
        assert point.scratch_accuracy == pytest.approx(1 / 3)  # the stand-in's first class, on the 27 test items
    assert result.curve[-1].accuracy > 0.8  # a head on ImageNet features tells circles from squares
    assert result.summary.startswith("With transfer, ") and "without it, all of them reach 33%" in result.summary
    report = json.loads(json.dumps(result.to_dict()))  # what report.json will hold
    assert set(report) >= {"scratch", "curve", "more_data"}
    assert set(report["scratch"]) >= {"accuracy", "seconds", "model"}
    assert set(report["curve"][0]) >= {"fraction", "per_class", "accuracy", "low", "high", "scratch_accuracy"}


def test_a_fraction_too_small_is_skipped_with_a_reason(shapes, counted):
    stand_in, _ = counted
    result = measure_benefit(shapes, BenefitConfig(budget_seconds=120, image_size=SIZE, fractions=(0.02, 0.5)))
    tiny, half, full = result.curve
    assert tiny.fraction == 0.02 and tiny.counts == (1, 1, 1) and tiny.accuracy is None
    assert "at least 2" in tiny.skipped and "keeps 1" in tiny.skipped
    assert half.skipped is None and full.skipped is None and half.accuracy is not None
    assert len(stand_in.rows) == 2  # nothing trained for the skipped point
    assert result.to_dict()["curve"][0]["skipped"] == tiny.skipped


def test_a_class_too_small_for_any_comparison_is_refused(shapes):
    tiny = shapes.records.groupby(["label", "split"]).head(1)  # one training image per class
    dataset = dataclasses.replace(shapes, records=tiny.reset_index(drop=True))
    with pytest.raises(DataError, match="no comparison can be made"):
        train_scratch(dataset, BenefitConfig(budget_seconds=600, image_size=SIZE))


@pytest.mark.slow
def test_the_whole_comparison_on_shapes(shapes):
    """The real no-transfer network at every fraction beside the transferred head, within the budget."""
    config = BenefitConfig(budget_seconds=90, image_size=SIZE, scratch=ScratchConfig(patience=3))
    start = time.monotonic()
    result = measure_benefit(shapes, config)
    assert time.monotonic() - start < config.budget_seconds + 20
    assert all(p.scratch_accuracy is not None and p.accuracy is not None for p in result.curve)
    assert len(result.scratch.predictions) == len(shapes.labels("test"))
    assert result.scratch.accuracy == result.curve[-1].scratch_accuracy
    assert "small CNN" in result.scratch.model and result.more_data


@pytest.mark.slow
def test_the_finetuning_way_retrains_the_base_per_fraction(shapes):
    """The dataset's own fine-tuning strategy, run on each fraction's copy of the dataset."""
    from tlcore.train.config import FinetuneConfig

    config = BenefitConfig(budget_seconds=150, image_size=SIZE, way="finetune", fractions=(0.5,),
                           finetune=FinetuneConfig(epochs=2, unfreeze_blocks=2), scratch=ScratchConfig(patience=2))
    result = measure_benefit(shapes, config)
    assert [p.fraction for p in result.curve] == [0.5, 1.0]
    assert all(p.accuracy is not None and p.seconds > 0 for p in result.curve)
    assert result.way == "finetune" and "finetune_top2" in result.transfer_model
    assert result.curve[-1].accuracy > 0.6


def test_the_comparison_for_a_run_takes_its_base_size_and_way():
    from tlcore.train.config import FinetuneConfig, TrainConfig

    run = TrainConfig(backbone="efficientnet_lite0", image_size=160, seed=4,
                      finetune=FinetuneConfig(unfreeze_blocks=6, learning_rate=1e-4))
    config = BenefitConfig.for_run(run, "predict", 240)
    assert (config.way, config.base, config.image_size, config.seed) == ("extract", "efficientnet_lite0", 160, 4)
    assert config.finetune.unfreeze_blocks == 6 and config.budget_seconds == 240
    assert BenefitConfig.for_run(run, "finetune", 240).way == "finetune"
    with pytest.raises(UnknownNameError, match="choose one of: extract, finetune"):
        benefit.needed_seconds(None, BenefitConfig(way="distill"))


def test_a_run_folder_gives_its_dataset_and_settings(shapes, tmp_path):
    from tlcore import runs
    from tlcore.train.config import TrainConfig

    run = tmp_path / "run"
    shapes.save(run / "dataset")
    runs.write_json(run / "config.json", dataclasses.asdict(TrainConfig(backbone="efficientnet_lite0", image_size=96))
                    | {"strategies": ["predict", "extract"]})
    with pytest.raises(SettingError, match="no selected model yet"):
        benefit.for_run_folder(run, 200)
    runs.write_json(run / "report.json", {"selected": {"strategy": "predict", "model": "label_map"}})
    dataset, config = benefit.for_run_folder(run, 200)
    assert dataset.split_hash() == shapes.split_hash() and dataset.modality == "image"
    assert (config.way, config.image_size, config.budget_seconds) == ("extract", 96, 200)


@pytest.mark.slow
def test_the_text_curve_compares_with_tfidf_at_every_fraction(support):
    result = measure_benefit(support, BenefitConfig(budget_seconds=60))
    assert [p.counts for p in result.curve] == [(3, 3, 3), (7, 7, 7), (14, 14, 14), (28, 28, 28)]
    assert all(p.scratch_accuracy is not None and p.accuracy is not None for p in result.curve)
    assert "TF-IDF" in result.scratch.model and "minilm" in result.transfer_model
    assert len(result.scratch.predictions) == len(support.labels("test"))
    assert result.summary.startswith(("With transfer", "Without transfer")) and "texts" in result.more_data


def test_the_clock_says_when_the_next_fits_no_longer_fit_in_what_is_left():
    clock = benefit._Clock(time.monotonic() + 10, [(1.0, 3.0), (1.0, 3.0), (0.5, 20.0), (0.5, 1.0)])
    assert not clock.cannot_fit(2)  # 6 s of least time in 10 s
    clock.deadline(), clock.deadline()
    assert clock.cannot_fit(2)  # 21 s of least time in under 10 s
    clock.skip(2)
    assert clock.fits == []


def test_a_fraction_that_no_longer_fits_in_the_budget_is_skipped_saying_why_and_all_the_data_is_still_measured(
        support, monkeypatch):
    monkeypatch.setattr(benefit._Clock, "cannot_fit", lambda self, count: True)  # a machine slower than its estimate
    result = measure_benefit(support, BenefitConfig(budget_seconds=60))
    full, smaller = result.curve[-1], result.curve[:-1]
    assert full.fraction == 1.0 and full.accuracy is not None and full.scratch_accuracy is not None
    assert smaller and all(p.accuracy is None and "budget ran out" in p.skipped for p in smaller)
    assert "Too few points" in result.more_data
