"""Analysis measures on data where the answer is known, and the recommendation's direction."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from tests.conftest import benchmark_module, shared_dataset
from tlcore import transferability as tr
from tlcore.cli import main
from tlcore.image.bases import get_spec
from tlcore.image.extract import load_images
from tlcore.image.similarity import batchnorm_shift, read_image_gap
from tlcore.strategy import recommend as shared_recommend


def dense_logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME straight from its definition: dense D x D matrices, slogdet and solve, no SVD tricks."""
    n, d = features.shape
    gram = features.T @ features
    scores = []
    for cls in np.unique(labels):
        y = (labels == cls).astype(float)
        alpha, beta = 1.0, 1.0
        for _ in range(100):
            a_matrix = alpha * np.eye(d) + beta * gram
            m = beta * np.linalg.solve(a_matrix, features.T @ y)
            gamma = d - alpha * np.trace(np.linalg.inv(a_matrix))
            new_alpha, new_beta = gamma / (m @ m), (n - gamma) / np.sum((y - features @ m) ** 2)
            done = abs(new_alpha / new_beta - alpha / beta) <= 1e-4 * alpha / beta
            alpha, beta = new_alpha, new_beta
            if done:
                break
        a_matrix = alpha * np.eye(d) + beta * gram
        m = beta * np.linalg.solve(a_matrix, features.T @ y)
        value = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - np.linalg.slogdet(a_matrix)[1] / 2
                 - beta / 2 * np.sum((y - features @ m) ** 2) - alpha / 2 * m @ m - n / 2 * np.log(2 * np.pi))
        scores.append(value / n)
    return float(np.mean(scores))


@pytest.mark.parametrize(("n", "d"), [(80, 200), (300, 40)])
def test_logme_equals_the_dense_definition(n, d):
    rng = np.random.default_rng(n)
    labels = rng.integers(0, 3, n)
    features = rng.normal(size=(n, d))
    features[np.arange(n), labels] += 2.0
    assert tr.logme(features, labels) == pytest.approx(dense_logme(features, labels), rel=1e-4, abs=1e-4)


def test_logme_keeps_the_term_the_reference_code_drops():
    """With N < D, leaving out (D - k) log(alpha) changes the value a lot (DESIGN.md: 7.08 vs 0.42)."""
    rng = np.random.default_rng(3)
    features, y = rng.normal(size=(80, 200)), (rng.random(80) > 0.5).astype(float)
    u, sigma = tr._svd(features)
    alpha, beta = tr.fit_evidence(y, u, sigma)
    full = tr.evidence(y, u, sigma, 200, alpha, beta)
    truncated = full + (200 - len(sigma)) * np.log(alpha) / 2 / 80
    assert len(sigma) == 80 and abs(truncated - full) > 0.1


def test_separable_features_score_perfectly_and_beat_shuffled_labels():
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(4), 30)
    features = rng.normal(size=(120, 32))
    features[np.arange(120), labels] += 8.0
    assert tr.probe_accuracy(features, labels) == 1.0
    assert tr.loo_ridge_accuracy(features, labels) == 1.0
    shuffled = rng.permutation(labels)
    assert tr.logme(features, labels) > tr.logme(features, shuffled) + 0.5
    assert tr.probe_accuracy(features, shuffled) < 0.5


@pytest.mark.parametrize("grouped", [False, True])
def test_closed_form_leave_one_out_equals_refitting_without_each_image_or_group(grouped):
    rng = np.random.default_rng(8 if grouped else 5)
    groups = np.repeat(np.arange(12), 4) if grouped else np.arange(40)
    labels = rng.integers(0, 3, groups.max() + 1)[groups]
    features = rng.normal(size=(len(groups), 12))
    features[np.arange(len(groups)), labels] += 1.0
    x = (features - features.mean(0)) / (features.std(0) + 1e-6)
    targets = np.eye(3)[labels]
    _, sigma = tr._svd(x)
    brute = 0.0
    for t in sigma.mean() * np.array([1e-3, 1e-2, 1e-1, 1.0, 10.0]):
        hits = [Ridge(alpha=t).fit(x[groups != g], targets[groups != g]).predict(x[groups == g]).argmax(1)
                == labels[groups == g] for g in np.unique(groups)]
        brute = max(brute, float(np.mean(np.concatenate(hits))))
    assert tr.loo_ridge_accuracy(features, labels, groups if grouped else None) == pytest.approx(brute)


def test_groups_of_twins_are_held_out_whole_so_the_probes_stop_reading_them():
    """Frames of one video learn nothing about another: by item the probes find each frame's twins,
    by group they are at chance; without groups the measures are the item-by-item ones, unchanged."""
    rng = np.random.default_rng(9)
    groups = np.repeat(np.arange(40), 6)
    labels = np.repeat(np.arange(40) % 4, 6)
    features = np.repeat(rng.normal(size=(40, 24)), 6, axis=0) + 0.05 * rng.normal(size=(240, 24))
    logits = rng.normal(size=(240, 1000))
    by_item = tr.measure(features, logits, labels)
    by_group = tr.measure(features, logits, labels, groups=[f"video{g}" for g in groups])
    assert by_item.probe_accuracy > 0.75 and by_item.loo_accuracy > 0.75
    assert by_group.probe_accuracy < 0.5 and by_group.loo_accuracy < 0.5
    assert tr.measure(features, logits, labels, groups=[None] * 240) == by_item


def test_leep_and_asis_accuracy_see_a_source_class_per_label():
    rng = np.random.default_rng(6)
    labels = np.repeat([0, 1, 2], 40)
    probs = np.full((120, 1000), 1e-4)
    probs[np.arange(120), np.array([10, 20, 30])[labels]] = 1.0  # label k looks like ImageNet class 10 (k + 1)
    probs /= probs.sum(1, keepdims=True)
    assert tr.asis_accuracy(probs, labels, 3) == 1.0
    shuffled = rng.permutation(labels)
    assert tr.leep(probs, labels, 3) > tr.leep(probs, shuffled, 3) + 0.5
    assert tr.asis_accuracy(probs, shuffled, 3) < 0.6


def _measures(probe=0.90, asis=0.5, slope=0.0):
    return tr.Transferability(logme=0.0, leep=-1.0, asis_accuracy=asis, probe_accuracy=probe,
                              loo_accuracy=probe, slope=slope)


def _gap(shift=0.3, starts=0):
    return SimpleNamespace(bn_shift=shift, mean_top1=0.4, shift_starts_at=starts)


def _size(per_class=150):
    return {"per_class_known_median": per_class}


def recommend(size, overlap, gap, measures, spec, image_size, name_map_accuracy=None):
    """The shared rule fed the image reading, as `ImageModality.measure` and `analyze` feed it."""
    used = name_map_accuracy is not None and name_map_accuracy >= measures.asis_accuracy
    reading = read_image_gap(gap, spec, size["per_class_known_median"], used, measures)
    return shared_recommend(size, measures, reading, name_map_accuracy or 0.0, "ImageNet", {"image_size": image_size},
                            aim="best")


def test_recommendation_moves_to_finetune_as_the_gap_widens():
    spec = get_spec("efficientnet_lite0")
    near = recommend(_size(), None, _gap(shift=0.05), _measures(), spec, 128)
    far = recommend(_size(), None, _gap(shift=0.4), _measures(), spec, 128)
    assert (near.strategy, far.strategy) == ("extract", "finetune")
    assert far.settings["unfreeze_blocks"] == 12 and far.settings["learning_rate"] == 2e-4
    assert any("0.40" in reason for reason in far.reasons)  # the reason cites the measured shift


def test_recommendation_moves_to_finetune_as_the_data_grows():
    spec = get_spec("efficientnet_lite0")
    strategies = [recommend(_size(n), None, _gap(), _measures(), spec, 128).strategy for n in (20, 60, 500)]
    assert strategies == ["extract", "finetune", "finetune"]
    few = recommend(_size(60), None, _gap(starts=0), _measures(), spec, 128)
    assert few.settings["unfreeze_blocks"] == 6  # less data, fewer blocks
    late = recommend(_size(500), None, _gap(starts=14), _measures(), spec, 128)
    assert late.settings["unfreeze_blocks"] == 4  # the shift starts late: only the top


def test_recommendation_prefers_predict_when_the_base_already_knows_the_classes():
    spec = get_spec("efficientnet_lite0")
    advice = recommend(_size(), None, _gap(shift=0.05), _measures(probe=0.94, asis=0.5), spec, 224,
                       name_map_accuracy=0.96)
    assert advice.strategy == "predict" and advice.expected_accuracy == {"predict": 0.96, "extract": 0.94}
    assert "96.0%" in advice.reasons[0]
    assert recommend(_size(), None, _gap(), _measures(probe=0.99), spec, 128).strategy == "extract"


def test_batchnorm_shift_is_small_for_imagenet_like_photos(backbone):
    from tlcore.samples import sample_path

    photos = sorted((shared_dataset("hymenoptera") / "val" / "bees").glob("*.jpg"))[:16]
    shapes = sorted((sample_path("shapes") / "circle").glob("*.png"))[:16]
    near = batchnorm_shift(backbone, load_images(photos, 224))
    far = batchnorm_shift(backbone, load_images(shapes, 224))
    assert set(near["block"]) == set(range(18))  # stem, 16 blocks, head
    assert near["shift"].mean() < 0.15 < far["shift"].mean()


def test_analyze_command_json_on_the_shapes_sample(tmp_path, capsys):
    code = main(["analyze", "sample:shapes", "--image-size", "128", "--json", "--aim", "fast", "--workspace",
                 str(tmp_path)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("dataset", "label_overlap", "domain_gap", "transferability", "recommendation"):
        assert key in report
    assert {"logme", "leep", "asis_accuracy", "probe_accuracy", "loo_accuracy", "slope"} <= set(
        report["transferability"])
    assert len(report["domain_gap"]["per_block"]) == 18
    advice = report["recommendation"]
    # drawn shapes: far from ImageNet, but the frozen features already separate them: no fine-tuning
    assert advice["expected_accuracy"]["extract"] >= 0.97 and advice["strategy"] != "finetune"
    predict_close = advice["expected_accuracy"]["predict"] >= advice["expected_accuracy"]["extract"] - 0.01
    assert advice["strategy"] == ("predict" if predict_close else "extract")
    assert {"strategy", "confidence", "reasons", "settings", "expected_accuracy"} <= set(advice)
    # the calibrated gain model of the default base: fine-tuning's expected accuracy and every way's time
    assert advice["aim"] == "fast" and set(advice["expected_seconds"]) == {"predict", "extract", "finetune"}
    assert 0 < advice["expected_accuracy"]["finetune"] <= 1 and advice["expected_seconds"]["finetune"] > 0
    from tlcore.costs import RunParts  # the same times in parts, for a run of several ways

    assert RunParts.from_dict(report["expected_parts"]).each() == advice["expected_seconds"]
    assert report["dataset"]["n_images"] == 180


def _calibration_rows(weight_room=0.5, weight_data=-1.0, noise=0.0, seed=0):
    """Rows as benchmarks/calibration.py writes them, where fine-tuning's gain is a known function of the measures."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(40):
        probe, distance, per_class = rng.uniform(0.7, 1.0), rng.uniform(0.0, 0.6), float(rng.choice([10, 25, 50, 200]))
        gain = weight_room * 100 * (1 - probe) + weight_data * (5 - np.log2(per_class)) + noise * rng.normal()
        extract = rng.uniform(0.6, 0.9)
        rows.append({"origin": f"set{k % 4}", "probe": probe, "distance": distance, "per_class": per_class,
                     "n_train": int(per_class * 7), "test_extract": extract, "test_finetune": extract + gain / 100,
                     "seconds_predict": 0.0, "seconds_extract_heads": 0.1 * per_class * 7,
                     "seconds_finetune": 0.5 * per_class * 7})
    return rows


def test_the_gain_model_recovers_a_known_relation_and_the_time_per_item():
    from tlcore.gain import fit_gain

    rows = _calibration_rows()
    model = fit_gain(rows, base="efficientnet_lite0")
    truth = [100 * (r["test_finetune"] - r["test_extract"]) for r in rows]
    fitted = [model.expected_gain(r["probe"], r["distance"], r["per_class"], r["n_train"]) for r in rows]
    assert np.max(np.abs(np.subtract(truth, fitted))) < 1.0  # ridge shrinks a little (gains span 0-15 points)
    assert model.residual_points < 1.0 and model.fitted_on == ("set0", "set1", "set2", "set3")
    assert model.seconds("finetune", 100) == pytest.approx(50.0)
    assert model.seconds("extract", 100) == pytest.approx(10.0)
    noisy = fit_gain(_calibration_rows(noise=3.0))
    assert noisy.residual_points > 2  # the spread of what it cannot explain is carried
    assert noisy.sure(6.0) > noisy.sure(1.0) > 0.5  # the further from zero, the surer


def test_a_smaller_form_of_the_gain_model_fits_only_its_own_features():
    from tlcore.gain import fit_gain

    # the gain depends on room, which the smaller form cannot see: it keeps its two weights and says it misses more
    rows = _calibration_rows(weight_room=0.5, weight_data=-1.0)
    full, small = fit_gain(rows), fit_gain(rows, features=("distance", "log_per_class"))
    assert set(small.weights) == {"distance", "log_per_class"}
    assert small.residual_points > 3 * full.residual_points
    per_class = {r["per_class"] for r in rows}
    assert small.expected_gain(0.8, 0.3, max(per_class), 500) > small.expected_gain(0.8, 0.3, min(per_class), 500)
    assert small.expected_gain(0.7, 0.3, 50, 500) == small.expected_gain(0.99, 0.3, 50, 500)  # room is not in it
    total = fit_gain(rows, features=("distance", "log_train"))  # the data as training images in all
    assert set(total.weights) == {"distance", "log_train"}
    assert total.expected_gain(0.8, 0.3, 50, 2000) > total.expected_gain(0.8, 0.3, 50, 200)
    assert total.expected_gain(0.8, 0.3, 10, 500) == total.expected_gain(0.8, 0.3, 200, 500)  # per class is not in it


def test_with_a_gain_model_the_aim_decides_whether_a_small_gain_pays():
    from tlcore.errors import UnknownNameError
    from tlcore.gain import GainModel
    from tlcore.strategy import FAST_GAIN_POINTS

    spec = get_spec("efficientnet_lite0")
    reading = read_image_gap(_gap(shift=0.3), spec, 150, False, _measures())
    size = {"per_class_known_median": 150, "splits": {"train": 1000}}

    def advise(points, aim):
        model = GainModel(points, {}, 2.0, {"predict": 0.0, "extract": 0.02, "finetune": 0.3}, ("a", "b"))
        return shared_recommend(size, _measures(), reading, 0.0, "ImageNet", gain=model, aim=aim)

    small = FAST_GAIN_POINTS / 2
    assert [advise(small, aim).strategy for aim in ("best", "fast")] == ["finetune", "extract"]
    assert [advise(-1.0, aim).strategy for aim in ("best", "fast")] == ["extract", "extract"]
    assert advise(3 * FAST_GAIN_POINTS, "fast").strategy == "finetune"
    tuned = advise(small, "best")
    assert tuned.expected_accuracy["finetune"] == pytest.approx(0.90 + small / 100)
    assert tuned.expected_seconds == {"predict": 0.0, "extract": 20.0, "finetune": 300.0}
    assert "+1.0 points" in tuned.reasons[1] and "4 min 40 s more" in tuned.reasons[1]
    assert tuned.settings["unfreeze_blocks"] == reading.settings["unfreeze_blocks"]
    said = " ".join(advise(small, "fast").reasons)
    assert "within the estimate's typical error (2.0): not worth 4 min 40 s more" in said
    assert advise(6.0, "best").confidence > tuned.confidence
    with pytest.raises(UnknownNameError):
        advise(1.0, "cheapest")


def test_good_and_fast_fine_tunes_for_a_small_gain_only_when_it_costs_no_more_minutes():
    from tlcore.gain import GainModel
    from tlcore.pilot import Pilot, decided_by
    from tlcore.strategy import FAST_GAIN_POINTS, FAST_TIME_FACTOR
    from tlcore.train import TrainConfig

    spec = get_spec("efficientnet_lite0")
    reading = read_image_gap(_gap(shift=0.3), spec, 150, False, _measures())
    size = {"per_class_known_median": 150, "splits": {"train": 1000}}
    model = GainModel(FAST_GAIN_POINTS / 2, {}, 4.0, {"predict": 0.0, "extract": 0.02, "finetune": 0.3}, ("a", "b"))

    def advise(finetune_seconds, points=FAST_GAIN_POINTS / 2):
        seconds = {"predict": 2.0, "extract": 40.0, "finetune": finetune_seconds}
        gain = dataclasses.replace(model, intercept=points)
        return shared_recommend(size, _measures(), reading, 0.0, "ImageNet", gain=gain, aim="fast", seconds=seconds)

    quick = advise(FAST_TIME_FACTOR * 40.0)
    assert quick.strategy == "finetune"
    assert f"worth it for good and fast, since it takes at most {FAST_TIME_FACTOR:.1f} times" in quick.reasons[-1]
    assert quick.settings["unfreeze_blocks"] == reading.settings["unfreeze_blocks"]
    slow = advise(FAST_TIME_FACTOR * 40.0 + 1)
    assert slow.strategy == "extract"  # a second more: the gain must pay for it
    # an extract advice still says what fine-tuning's points and minutes were for, and a run that fine-tunes (the
    # Train page's "all", `train --strategy finetune`) trains that: a walk's fine-tuned 12 blocks took 1.9x the 6 timed
    assert "unfreeze_blocks" not in slow.settings and slow.finetune_settings == reading.settings
    config = TrainConfig.from_analysis({"backbone": spec.name, "recommendation": slow.to_dict()}, strategies=("all",))
    assert (config.finetune.unfreeze_blocks, config.finetune.learning_rate) == (
        reading.settings["unfreeze_blocks"], reading.settings["learning_rate"])
    assert shared_recommend(size, _measures(), reading, 0.0, "ImageNet", aim="fast",
                            can_finetune=False).finetune_settings == {}  # a base that cannot fine-tune: none
    assert advise(30.0, points=-0.5).strategy == "extract"  # costing nothing more is no reason to lose points
    assert advise(30.0).confidence == round(model.sure(FAST_GAIN_POINTS / 2), 2)  # sure of the gain's sign only
    # a pilot's measurement weighed in keeps the same rule
    pilot = Pilot(0.80, 0.805, 200, 10.0, 4, "extract")
    assert decided_by(advise(30.0), pilot, "images", reading.settings).strategy == "finetune"
    assert decided_by(advise(300.0), pilot, "images", reading.settings).strategy == "extract"


def test_the_expected_loss_is_the_mean_of_what_the_other_way_leads_by():
    from tlcore.gain import expected_loss

    rng = np.random.default_rng(0)
    for points, error in ((0.0, 4.0), (1.5, 4.0), (-3.0, 2.0), (8.0, 4.0)):
        gains = rng.normal(points, error, 400_000)  # fine-tuning's gain, as the estimate's error allows it
        for chosen, lead in (("finetune", -gains), ("extract", gains)):
            assert expected_loss(points, error, chosen) == pytest.approx(np.maximum(lead, 0).mean(), abs=0.02)
    assert expected_loss(0.0, 4.0, "finetune") == pytest.approx(4.0 / np.sqrt(2 * np.pi))  # a coin toss
    clear, close, against = (expected_loss(8.0, 4.0, "finetune"), expected_loss(1.0, 4.0, "finetune"),
                             expected_loss(1.0, 4.0, "extract"))
    assert clear < close < against  # a clear call loses little; going against the estimate loses more


def test_the_advice_says_what_its_choice_is_expected_to_lose():
    from tlcore.gain import GainModel, expected_loss

    spec = get_spec("efficientnet_lite0")
    reading = read_image_gap(_gap(shift=0.3), spec, 150, False, _measures())
    size = {"per_class_known_median": 150, "splits": {"train": 1000}}
    model = GainModel(1.0, {}, 4.0, {"predict": 0.0, "extract": 0.02, "finetune": 0.3}, ("a", "b"))
    advice = shared_recommend(size, _measures(), reading, 0.0, "ImageNet", gain=model, aim="best")
    assert advice.strategy == "finetune"
    assert advice.expected_loss == pytest.approx(expected_loss(1.0, 4.0, "finetune"), abs=0.005)
    assert f"loses {advice.expected_loss:.1f} points against the better of the two ways" in advice.reasons[1]
    fast = shared_recommend(size, _measures(), reading, 0.0, "ImageNet", gain=model, aim="fast")
    assert fast.strategy == "extract" and fast.expected_loss > advice.expected_loss  # time bought with accuracy
    rule = shared_recommend(size, _measures(), reading, 0.0, "ImageNet")
    assert rule.expected_loss is None and "loses" not in " ".join(rule.reasons)  # no estimate, no figure


def test_the_expected_gain_names_the_measures_its_model_reads():
    from tlcore.gain import GainModel

    spec = get_spec("efficientnet_lite0")
    reading = read_image_gap(_gap(shift=0.3), spec, 150, False, _measures())
    size = {"per_class_known_median": 150, "splits": {"train": 1000}}
    seconds = {"predict": 0.0, "extract": 0.02, "finetune": 0.3}

    def why(weights):
        model = GainModel(1.0, weights, 2.0, seconds, ("a", "b"))
        return shared_recommend(size, _measures(), reading, 0.0, "ImageNet", gain=model).reasons[1]

    two = why({"distance": 10.0, "log_per_class": 3.0})
    assert f"estimated from a distance from ImageNet of {reading.distance:.2f} and 150 examples per class (" in two
    assert "probe's" not in two  # a model that does not read the probe does not claim to
    four = why({"room": 0.1, "distance": 10.0, "log_per_class": 3.0, "room_x_data": -0.01})
    assert "from the probe's 90.0%, a distance from ImageNet of" in four
    total = why({"distance": 10.0, "log_train": 3.0})
    assert f"estimated from a distance from ImageNet of {reading.distance:.2f} and 1000 training examples (" in total


def test_the_probe_says_it_held_out_whole_groups_and_when_they_are_too_few():
    import pandas as pd

    from tlcore.data.dataset import SplitRecords

    class Frames(SplitRecords):
        classes = ("a", "b")

        def __init__(self, groups_a: int):
            # b's sub-folders share a's names: a group lives in its class, as the split keeps it
            rows = [("a", f"take{i % groups_a}", "train") for i in range(12)] + [("b", f"take{i % 6}", "train")
                                                                                  for i in range(12)]
            rows += [("a", "held", "test"), ("b", None, "val")]  # a test group is not one the probe can hold out
            self.records = pd.DataFrame(rows, columns=["label", "group", "split"])

    spec = get_spec("efficientnet_lite0")
    reading = read_image_gap(_gap(shift=0.3), spec, 12, False, _measures())
    for groups_a, few in ((2, True), (6, False)):
        size = Frames(groups_a).class_sizes()
        assert (size["groups"], size["groups_per_class_min"]) == (groups_a + 7, groups_a)  # b's val item: its own
        first = shared_recommend(size, _measures(), reading, 0.0, "ImageNet").reasons[0]
        assert f"cross-validated on whole groups: {groups_a + 7} of them, {groups_a} in the smallest class" in first
        assert ("far off either way" in first) == few
    flat = Frames(2)
    flat.records = flat.records.assign(group=None)
    size = flat.class_sizes()
    assert "groups" not in size
    assert "(cross-validated)." in shared_recommend(size, _measures(), reading, 0.0, "ImageNet").reasons[0]


def test_the_image_gain_model_is_the_fit_of_the_committed_calibration_table():
    """The constants in tlcore/image/gain.py are what `fit_gain` makes of every committed image calibration table."""
    from tlcore.gain import fit_gain
    from tlcore.image.gain import IMAGE_GAIN

    calibration = benchmark_module("calibration")
    rows = calibration.read_tables(calibration.IMAGE_TABLES)
    assert len(rows) == 58 and set(IMAGE_GAIN.fitted_on) == {r["origin"] for r in rows}
    assert {r["base"] for r in rows} == {IMAGE_GAIN.base}
    assert fit_gain(rows, IMAGE_GAIN.base, tuple(IMAGE_GAIN.weights)) == IMAGE_GAIN


def test_a_text_variant_learns_from_n_per_class_and_tests_on_other_texts(tmp_path):
    calibration = benchmark_module("calibration")
    texts = [f"message number {i} about {label}" for label in ("ham", "spam") for i in range(40)]
    frame = {"text": [*texts, "MESSAGE  number 0 about ham"], "label": ["ham"] * 40 + ["spam"] * 40 + ["ham"]}
    import pandas as pd

    (tmp_path / "text").mkdir()
    pd.DataFrame(frame).to_csv(tmp_path / "text" / "toy.csv", index=False)
    source, px = calibration.variant_source("toy@12", tmp_path, tmp_path / "scratch")
    variant = pd.read_csv(source)
    assert px is None and source.suffix == ".csv"
    counts = variant.groupby(["split", "label"]).size().to_dict()
    assert counts == {("train", "ham"): 12, ("train", "spam"): 12, ("test", "ham"): 10, ("test", "spam"): 10}
    assert not set(variant[variant["split"] == "train"]["text"]) & set(variant[variant["split"] == "test"]["text"])
    assert variant["text"].str.casefold().str.split().str.join(" ").is_unique  # the near-copy was dropped


def test_the_benchmark_reads_the_pilot_as_the_product_does():
    from tlcore.strategy import Recommendation

    bench = benchmark_module("bench_recommend")

    def advice(strategy, confidence, estimated=True):  # the gain model's advice carries its estimate
        gain = {"expected_gain": 0.5, "gain_error": 3.0} if estimated else {}
        return Recommendation(strategy, confidence, [], {}, {"extract": 0.8, "finetune": 0.805} if estimated else {},
                              **gain)

    close, sure, as_is, rule = advice("extract", 0.55), advice("extract", 0.9), advice("predict", 0.6), \
        advice("extract", 0.9, estimated=False)
    row = {"pilot_winner": "finetune", "pilot_extract": 0.80, "pilot_finetune": 0.90, "val_items": 200,
           "pilot_seconds": 90.0}
    assert bench.with_pilot(row, close, "offered") == "finetune"
    assert bench.with_pilot(row, sure, "offered") == "extract"
    assert bench.with_pilot(row, sure, "always") == "finetune"
    assert bench.with_pilot({"pilot_winner": "none"}, as_is, "always") == "predict"
    assert bench.with_pilot(row, rule, "offered") == "extract"  # the rule estimates no gain: no pilot offered
    assert bench.with_pilot(row, rule, "always") == "finetune"  # asked for, a clear lead overturns the rule
    assert bench.with_pilot(row | {"pilot_finetune": 0.85}, rule, "always") == "extract"  # within the noise
    assert bench.with_pilot(row | {"pilot_finetune": 0.85}, rule, "alone") == "finetune"  # the pilot's own winner
    assert bench.with_pilot({}, close, "offered") is None  # no pilot measured: the policy is not scored
    # the product's weighing: a lead within the pilot's noise leaves the estimate's call
    noisy = row | {"pilot_winner": "extract", "pilot_finetune": 0.79, "val_items": 20}
    assert bench.with_pilot(noisy, advice("finetune", 0.55), "offered") == "finetune"
    assert bench.with_pilot(noisy, advice("finetune", 0.9), "alone") == "extract"  # the pilot's own winner


def test_the_benchmark_scores_a_run_of_all_three_by_its_one_standard_error_choice():
    bench = benchmark_module("bench_recommend")
    row = {"val_predict": 0.80, "val_extract": 0.85, "val_finetune": 0.86, "val_items": 100}
    assert bench.after_training(row) == "extract"  # fine-tuning leads by less than one standard error
    assert bench.after_training(row | {"val_finetune": 0.95}) == "finetune"
    assert bench.after_training(row | {"val_predict": 0.85}) == "predict"  # a tie keeps the simplest


def _draw(predict, extract, finetune, wrong=None, items=10):
    row = {"test_predict": predict, "test_extract": extract, "test_finetune": finetune, "test_items": items}
    return row | {f"wrong_{s}": " ".join(map(str, w)) for s, w in (wrong or {}).items()}


def test_the_noise_benchmark_scores_a_draws_winner_on_another_draw():
    bench = benchmark_module("bench_noise")
    steady = [_draw(0.5, 0.9, 0.8), _draw(0.5, 0.92, 0.85)]
    assert bench.hindsight(steady) == [0.0, 0.0]  # the same winner on both draws loses nothing
    flipped = [_draw(0.5, 0.90, 0.80), _draw(0.5, 0.85, 0.95)]
    assert bench.hindsight(flipped) == pytest.approx([10.0, 10.0])  # extract's draw, then fine-tuning's
    # one way for the variant: the better mean, scored on each draw
    leaning = [_draw(0.5, 0.90, 0.80), _draw(0.5, 0.85, 0.97)]  # means: extract 0.875, fine-tuning 0.885
    assert bench.best_fixed(leaning) == pytest.approx([10.0, 0.0])


def test_the_noise_benchmark_pools_the_gains_spread_within_each_variant():
    bench = benchmark_module("bench_noise")
    moving = [_draw(0.0, 0.80, 0.82), _draw(0.0, 0.80, 0.84)]  # gains +2 and +4 points
    steady = [_draw(0.0, 0.50, 0.90), _draw(0.0, 0.60, 1.00)]  # +40 both times: far from the first, no spread
    gain = bench.MEASURES["fine-tuning's gain over extract"]
    pooled, freedom = bench.spread([moving, steady], gain)
    assert freedom == 2 and pooled == pytest.approx(1.0)  # sqrt((1 + 1 + 0 + 0) / 2): between variants is not noise
    assert bench.spread([moving], bench.MEASURES["extract's test accuracy"]) == (0.0, 1)


def test_the_noise_benchmark_resamples_test_items_keeping_each_items_answers_paired():
    bench = benchmark_module("bench_noise")
    # fine-tuning right wherever extract is, and on one item more: no resample can let extract win
    dominated = _draw(0.0, 0.8, 0.9, {"predict": range(10), "extract": [0, 1], "finetune": [0]})
    assert bench.correct_matrix(dominated).sum(axis=0).tolist() == [0, 8, 9]
    assert np.all(bench.resampled(dominated, 500) == 0)
    # a tie with different mistakes: the full sample's winner (extract, the simpler) is beaten on resamples
    tied = _draw(0.0, 0.8, 0.8, {"predict": range(10), "extract": [0, 1], "finetune": [8, 9]})
    regrets = bench.resampled(tied, 500)
    assert regrets.mean() > 2.0 and regrets.max() >= 20.0 and np.all(regrets >= 0)


def test_the_collector_records_which_test_items_each_strategy_got_wrong():
    calibration = benchmark_module("calibration")
    evaluation = SimpleNamespace(misclassified=[{"file": "test/b/2.png"}, {"file": "test/a/9.png"}])
    assert calibration.wrong_positions(evaluation, ["test/a/1.png", "test/a/9.png", "test/b/2.png"]) == "1 2"


def test_the_expected_gain_never_exceeds_the_room_the_frozen_head_leaves():
    from tlcore.gain import GainModel

    spec = get_spec("efficientnet_lite0")
    size = {"per_class_known_median": 150, "splits": {"train": 1000}}
    generous = GainModel(9.0, {}, 4.0, {"predict": 0.0, "extract": 0.02, "finetune": 0.3}, ("a", "b"))
    for probe in (1.0, 0.995, 0.97):
        measures = _measures(probe=probe)
        reading = read_image_gap(_gap(shift=0.3), spec, 150, False, measures)
        for aim in ("best", "fast"):
            advice = shared_recommend(size, measures, reading, 0.0, "ImageNet", gain=generous, aim=aim)
            assert advice.expected_gain <= 100 * (1 - probe) + 1e-9
            assert advice.expected_accuracy["finetune"] <= 1.0
    perfect = _measures(probe=1.0)
    reading = read_image_gap(_gap(shift=0.3), spec, 150, False, perfect)
    fast = shared_recommend(size, perfect, reading, 0.0, "ImageNet", gain=generous, aim="fast")
    assert fast.strategy == "extract" and fast.expected_loss == 0.0  # nothing left to gain, nothing to lose
    assert "already scores 100.0%: fine-tuning has no points left to add" in fast.reasons[1]
    # a run stops after its first head there whatever way is asked: no "about 0 s more" (read as "it costs nothing")
    level = shared_recommend(size, perfect, reading, 0.0, "ImageNet", gain=generous, aim="fast",
                             seconds={"predict": 12.0, "extract": 12.0, "finetune": 12.0})
    assert "0 s more" not in level.reasons[1] and "every way takes about as long" in level.reasons[1]
    # no room is no close call, even where fine-tuning would cost no more minutes (the walk: "50%, a coin toss",
    # and a pilot offered, beside "no points left to add")
    from tlcore.pilot import pilot_offer

    for aim in ("best", "fast"):
        sure = shared_recommend(size, perfect, reading, 0.0, "ImageNet", gain=generous, aim=aim,
                                seconds={"predict": 12.0, "extract": 12.0, "finetune": 12.0})
        assert sure.strategy == "extract" and sure.confidence >= 0.9 and pilot_offer(sure.to_dict()) == ""
    dearer = shared_recommend(size, perfect, reading, 0.0, "ImageNet", gain=generous, aim="fast",
                              seconds={"predict": 12.0, "extract": 12.0, "finetune": 72.0})
    assert "would take about 1 min 0 s more" in dearer.reasons[1]


def test_good_and_fast_is_the_default_and_does_not_fine_tune_on_a_gain_within_its_error():
    import inspect

    from tlcore.analysis import analyze
    from tlcore.gain import GainModel
    from tlcore.strategy import DEFAULT_AIM

    assert DEFAULT_AIM == "fast" and inspect.signature(analyze).parameters["aim"].default == DEFAULT_AIM
    spec = get_spec("efficientnet_lite0")
    reading = read_image_gap(_gap(shift=0.3), spec, 150, False, _measures())
    size = {"per_class_known_median": 150, "splits": {"train": 1000}}
    seconds = {"predict": 20.0, "extract": 30.0, "finetune": 330.0}

    def advise(points, error, aim=DEFAULT_AIM):
        model = GainModel(points, {}, error, {}, ("a", "b"))
        return shared_recommend(size, _measures(), reading, 0.0, "ImageNet", gain=model, aim=aim, seconds=seconds)

    within = advise(3.5, 4.0)  # above the 2 points good-and-fast asks, within the estimate's own error
    assert within.strategy == "extract" and advise(3.5, 4.0, "best").strategy == "finetune"
    assert advise(5.0, 4.0).strategy == "finetune"  # a clear gain pays for its minutes
    said = " ".join(within.reasons)
    assert "takes about 5 min 0 s more on this machine for an expected +3.5 points" in said
    assert "(typical error 4.0)" in said and "within the estimate's typical error (4.0)" in said
    assert within.expected_seconds == seconds  # the times measured here, not the calibration machine's


def test_without_a_gain_estimate_good_and_fast_keeps_the_frozen_head_unless_tuning_is_as_quick():
    spec = get_spec("efficientnet_lite0")
    measures = _measures(probe=0.80)
    reading = read_image_gap(_gap(shift=0.4), spec, 150, False, measures)
    size = _size()
    seconds = {"predict": 10.0, "extract": 20.0, "finetune": 200.0}
    best = shared_recommend(size, measures, reading, 0.0, "ImageNet", aim="best", seconds=seconds)
    fast = shared_recommend(size, measures, reading, 0.0, "ImageNet", aim="fast", seconds=seconds)
    assert (best.strategy, fast.strategy) == ("finetune", "extract")
    assert "3 min 0 s more on this machine" in " ".join(fast.reasons)
    assert "ask for the best accuracy to fine-tune" in " ".join(fast.reasons)
    # unless fine-tuning is expected within 1.5x the head's time: as fast as the aim allows
    quick = shared_recommend(size, measures, reading, 0.0, "ImageNet", aim="fast",
                             seconds=seconds | {"finetune": 30.0})
    assert quick.strategy == "finetune" and "at most 1.5 times as long" in " ".join(quick.reasons)
    assert quick.settings["unfreeze_blocks"] == best.settings["unfreeze_blocks"]
    slower = shared_recommend(size, measures, reading, 0.0, "ImageNet", aim="fast",
                              seconds=seconds | {"finetune": 31.0})
    assert slower.strategy == "extract"
    near = read_image_gap(_gap(shift=0.05), spec, 150, False, measures)  # close to ImageNet: the rule says extract
    assert shared_recommend(size, measures, near, 0.0, "ImageNet", aim="fast",
                            seconds=seconds | {"finetune": 30.0}).strategy == "extract"


def test_a_base_that_cannot_fine_tune_is_never_advised_to():
    spec = get_spec("efficientnet_lite0")
    size, measures = _size(), _measures()
    reading = read_image_gap(_gap(shift=0.4), spec, size["per_class_known_median"], False, measures)
    asked = dict(aim="best")
    assert shared_recommend(size, measures, reading, 0.0, "ImageNet", **asked).strategy == "finetune"
    kept = shared_recommend(size, measures, reading, 0.0, "ImageNet", can_finetune=False, **asked)
    assert kept.strategy == "extract" and any("cannot be fine-tuned" in reason for reason in kept.reasons)


def test_a_text_base_outside_keras_offers_no_fine_tuning_time():
    from tlcore.text.encoder import TEXT_REGISTRY
    from tlcore.text.modality import MODALITY

    outside = [name for name, spec in TEXT_REGISTRY.items() if not spec.finetunable]
    if not outside:
        pytest.skip("no text base outside Keras is registered")
    assert "finetune" not in MODALITY.strategies(outside[0])
    assert "finetune" in MODALITY.strategies(None)  # the default encoder is a Keras network


def test_a_run_is_told_what_its_analysis_expected_only_for_the_base_and_size_it_timed(tmp_path):
    """The report's and the bar's expected time come from the saved analysis, and only where it timed this run's base
    at this run's size (another base's time would be a wrong promise); "all" gets every way, each within the budget."""
    import dataclasses

    from tlcore import runs
    from tlcore.analysis import ANALYSIS_FILE, expected_seconds_for
    from tlcore.train import TrainConfig

    dataset = tmp_path
    runs.write_json(tmp_path / ANALYSIS_FILE, {"backbone": "efficientnet_lite0", "image_size": 128, "recommendation": {
        "expected_seconds": {"predict": 12.0, "extract": 50.0, "finetune": 400.0}}})
    asked = TrainConfig(strategies=("extract",), backbone="efficientnet_lite0", image_size=128, budget_seconds=300)
    assert expected_seconds_for(dataset, asked) == {"extract": 50.0}
    assert expected_seconds_for(dataset, dataclasses.replace(asked, image_size=None)) == {"extract": 50.0}
    assert expected_seconds_for(dataset, dataclasses.replace(asked, strategies=("all",))) == {
        "predict": 12.0, "extract": 50.0, "finetune": 300.0}
    assert expected_seconds_for(dataset, dataclasses.replace(asked, image_size=224)) == {}
    assert expected_seconds_for(dataset, dataclasses.replace(asked, backbone="efficientnet_lite2")) == {}
    assert expected_seconds_for(tmp_path / "none", asked) == expected_seconds_for(None, asked) == {}


def test_a_run_of_all_the_ways_is_told_the_time_of_that_run(tmp_path):
    """The bar and the wall note of an "all" run read one time for the run (walk 6: it had none, so its bar was the
    budget's share); an analysis saved before the parts gives one way its time and several none."""
    import dataclasses

    from tlcore import costs, runs
    from tlcore.analysis import ANALYSIS_FILE, expected_run_seconds
    from tlcore.train import TrainConfig

    parts = costs.RunParts(shared=2.0, work={"predict": 1.0, "extract": 20.0, "finetune": 60.0},
                           bundle={"predict": 0.5, "extract": 0.5, "finetune": 1.0}, first_head=0.4)
    saved = {"backbone": "efficientnet_lite0", "image_size": 128,
             "recommendation": {"expected_seconds": parts.each()}}
    runs.write_json(tmp_path / ANALYSIS_FILE, saved | {"expected_parts": parts.to_dict()})
    asked = TrainConfig(strategies=("all",), backbone="efficientnet_lite0", image_size=128, budget_seconds=300)
    assert expected_run_seconds(tmp_path, asked) == 2.0 + 1.0 + 1.0 + 20.0 + 60.0 - 0.4
    assert expected_run_seconds(tmp_path, dataclasses.replace(asked, budget_seconds=60)) == 60.0
    assert expected_run_seconds(tmp_path, dataclasses.replace(asked, strategies=("extract",))) == 22.5
    assert expected_run_seconds(tmp_path, dataclasses.replace(asked, backbone="efficientnet_lite2")) is None
    runs.write_json(tmp_path / ANALYSIS_FILE, saved)  # before the parts were saved
    assert expected_run_seconds(tmp_path, asked) is None
    assert expected_run_seconds(tmp_path, dataclasses.replace(asked, strategies=("extract",))) == 22.5
