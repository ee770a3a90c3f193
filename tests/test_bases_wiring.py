"""The base ranking wired in: the analysis carries it (and analysis.json keeps it), the pages show and use it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from tlcore.analysis import analyze, base_ranking
from tlcore.folds import stratified_sample
from tlcore.image import bases as bases_module
from tlcore.image import ranking
from tlcore.image.bases import DEFAULT_BACKBONE, installed_bases
from tlcore.image.modality import ImageModality
from tlcore.modality import BaseChoice, BaseRanking, get_modality


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    from tlcore.data import import_data
    from tlcore.samples import sample_path

    return import_data(sample_path("shapes"), tmp_path_factory.mktemp("wiring") / "ws")


@pytest.mark.slow  # the analysis plus two more bases over 180 images: ~45 s on 2 quiet cores
def test_the_analysis_of_drawn_shapes_ranks_every_installed_base_and_keeps_it(shapes):
    analysis = analyze(shapes)
    saved = json.loads(json.dumps(analysis.to_dict()))  # as the job writes analysis.json
    rows = saved["bases"]["rows"]
    assert {row["base"] for row in rows} == set(installed_bases()) and len(rows) >= 3
    for row in rows:
        assert 0.8 <= row["probe_accuracy"] <= 1 and np.isfinite(row["logme"]) and row["seconds_per_item"] > 0
        assert row["title"].startswith("EfficientNet-Lite")
    assert [row["rank"] for row in rows] == list(range(1, len(rows) + 1))
    assert saved["bases"]["recommended"] == rows[0]["base"] and rows[0]["recommended"]
    assert rows[0]["title"] in saved["bases"]["sentence"]
    assert saved["bases"]["items"] == saved["bases"]["of_items"] == int((shapes.records["split"] != "test").sum())
    analysed = next(row for row in rows if row["base"] == analysis.base.name)
    assert analysed["features_from_cache"]  # the analysed base's features were reused, not run again
    assert analysis.base.name == DEFAULT_BACKBONE  # the ranking advises; the analysed base stays the user's
    assert base_ranking(saved) == analysis.bases


def test_a_text_dataset_is_ranked_on_the_text_bases_a_bundle_can_carry_and_the_ranking_survives_saving(tmp_path):
    from tlcore.data import import_data
    from tlcore.samples import sample_path

    messages = import_data(sample_path("support"), tmp_path / "ws")
    assert messages.modality == "text"
    analysis = analyze(messages)
    ranked = {row["base"] for row in analysis.bases.rows}
    assert {"minilm_l6", "use_multilingual"} <= ranked  # English texts: the engine-only e5 is not measured
    assert analysis.bases.recommended in ("minilm_l6", "use_multilingual") and analysis.bases.sentence
    assert base_ranking(analysis.to_dict()).to_dict() == analysis.bases.to_dict()


def test_one_installed_base_gives_no_ranking(monkeypatch, shapes):
    monkeypatch.setattr(bases_module, "installed_bases", lambda: [DEFAULT_BACKBONE])
    modality = get_modality("image")
    assert modality.rank_bases(shapes, BaseChoice(DEFAULT_BACKBONE, 192), np.zeros((len(shapes), 4)), seed=0,
                               progress=None) is None


class _Base:
    def __init__(self, size: int) -> None:
        self.image_size = size


def test_a_large_dataset_is_ranked_on_a_stratified_sample_with_given_features(monkeypatch, shapes):
    """No base runs here: every base's features are given, so the cap and the order are what is checked."""
    monkeypatch.setattr(ranking, "load_backbone", lambda name, size: _Base(size))
    monkeypatch.setattr(ranking, "_seconds_per_image", lambda base, files: 0.01)
    monkeypatch.setattr(ranking, "_features", lambda *a: pytest.fail("a given base was run again"))
    labels = shapes.labels()
    rng = np.random.default_rng(0)
    clear = np.eye(3)[labels] * 5 + rng.normal(size=(len(shapes), 3))
    noisy = np.eye(3)[labels] * 0.5 + rng.normal(size=(len(shapes), 3))
    given = {"efficientnet_lite0": noisy, "efficientnet_lite1": noisy, "efficientnet_lite2": clear}
    table = ranking.rank_bases(shapes, list(given), seed=0, max_items=60, given=given)
    assert table.attrs["items"] == 60 and table.attrs["of_items"] == int((shapes.records["split"] != "test").sum())
    assert table.attrs["recommended"] == "efficientnet_lite2"
    carried = ranking.as_ranking(table)
    assert carried.rows[0]["base"] == "efficientnet_lite2" and carried.rows[0]["seconds_per_item"] == 0.01
    assert BaseRanking.from_dict(json.loads(json.dumps(carried.to_dict()))) == carried
    known = np.flatnonzero(shapes.records["split"].to_numpy(dtype=object) != "test")
    kept = stratified_sample(known, labels, 60, seed=0)
    assert len(set(kept)) == 60 and set(kept) <= set(known) and list(kept) == sorted(kept)
    assert np.bincount(labels[kept]).min() >= 18  # each class keeps about its share (a third each)


# --- the pages ---------------------------------------------------------------------------------------

LITE2_FIRST = BaseRanking(
    rows=tuple({"base": name, "title": ranking.short_title(name), "rank": rank, "recommended": rank == 1,
                "image_size": 192, "probe_accuracy": probe, "logme": 0.9, "seconds_per_item": seconds,
                "points_vs_default": 0.0, "time_vs_default": 1.0, "imagenet_top1": 0.75, "features_from_cache": False}
               for rank, (name, probe, seconds) in enumerate([("efficientnet_lite2", 0.981, 0.016),
                                                              ("efficientnet_lite0", 0.963, 0.010)], start=1)),
    recommended="efficientnet_lite2",
    sentence="EfficientNet-Lite2 reads your images 1.8 points better than EfficientNet-Lite0 and takes 1.6x as long.",
    items=153, of_items=153)


def test_analyse_shows_the_ranking_and_train_preselects_the_recommended_base_and_its_size(monkeypatch):
    """The ranking is scripted (Lite2 first) so the pages' part is checked, not the measuring (tested above)."""
    from tlcore import jobs
    from tlcore.errors import TLCoreError

    monkeypatch.setattr(ImageModality, "rank_bases", lambda self, *a, **k: LITE2_FIRST)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600).run()
    at.switch_page("pages/analyse.py").run()
    at.button(key="analyse").click().run()
    assert not at.exception and at.subheader[0].value.startswith("Our advice: ")
    assert any(LITE2_FIRST.sentence in m.value for m in at.markdown)
    timed = next(m.value for m in at.markdown if m.value.startswith("**Each way in points and minutes**"))
    assert timed.endswith("timed on this machine by the analysis, with EfficientNet-Lite0 at 192 px.")  # not Lite2
    shown = at.dataframe[0].value
    assert list(shown["Base"]) == ["EfficientNet-Lite2 (recommended)", "EfficientNet-Lite0"]
    assert list(shown["Linear probe accuracy"]) == ["98.1%", "96.3%"] and "Seconds per image" in shown.columns

    assert any(c.value.startswith("The advice above, its times, its button and the Train page use EfficientNet-Lite0")
               for c in at.caption)

    at.switch_page("pages/train.py").run()
    assert not at.exception
    # the base the advice measured comes first, with its expected time (walk 9 found the ranking's first base
    # preselected and no expected time); the ranking's is named in the list
    base = at.selectbox(key="base")
    assert base.value == "efficientnet_lite0"
    marked = {option.split(" (")[0]: option.split("), ")[-1] for option in base.options if "), " in option}
    assert marked == {"EfficientNet-Lite0": "the advice's base", "EfficientNet-Lite2": "ranked first"}
    assert any(c.value.startswith("Expected on this machine: about ") for c in at.caption)
    base.set_value("efficientnet_lite2").run()
    size = at.number_input(key="size:efficientnet_lite2")
    assert size.value == 192 and size.max == bases_module.get_spec("efficientnet_lite2").input_size == 260
    # another base than the analysis timed: the page says so (walk 7 trained "All three" on the ranking's first
    # base and never learnt how long to expect)
    assert any(c.value.startswith("No expected time for this choice: the analysis timed EfficientNet-Lite0")
               for c in at.caption)
    assert not any(c.value.startswith("Expected on this machine") for c in at.caption)

    asked = []

    def capture(workspace, dataset_folder, config):
        asked.append(config)
        raise TLCoreError("captured")

    monkeypatch.setattr(jobs, "submit_training", capture)
    at.button(key="train").click().run()
    (config,) = asked
    assert (config.backbone, config.image_size) == ("efficientnet_lite2", 192)

    ranked = next(c.value for c in at.caption if "in the ranking of bases" in c.value)
    assert "base): 98.1% right, at 0.016 seconds per image on this machine." in ranked  # a base the advice did not
    assert "more closely" not in ranked  # measure: the ranking's alone
    at.selectbox(key="base").set_value("efficientnet_lite0").run()  # the user's own choice wins
    assert at.number_input(key="size:efficientnet_lite0").max == 224
    advised = next(c.value for c in at.caption if "in the ranking of bases" in c.value)
    assert "base): 96.3% right" in advised and advised.endswith(  # both, each saying what it is
        "The analysis measured this base more closely, as the Analyse page says: 100.0% for a new head on its "
        "features.")
    expected = [c.value for c in at.caption if c.value.startswith("Expected on this machine: about ")]
    assert len(expected) == 1 and "from pressing Train to the final model's download" in expected[0], expected
    assert not any(c.value.startswith("No expected time") for c in at.caption)
    at.button(key="train").click().run()
    assert asked[-1].backbone == "efficientnet_lite0"


def test_after_the_recommended_run_train_shows_the_base_it_trained_not_another(monkeypatch):
    """The advice's run trains the base the analysis measured; the Train page then preselected the ranking's other
    base ("Universal Sentence Encoder ... (recommended)" beside a MiniLM run), so Train again would train another."""
    monkeypatch.setattr(ImageModality, "rank_bases", lambda self, *a, **k: LITE2_FIRST)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600).run()
    at.switch_page("pages/analyse.py").run()
    at.button(key="analyse").click().run()
    at.button(key="train_recommended").click().run()  # the immediate queue: the run ends within the click
    assert not at.exception
    at.switch_page("pages/train.py").run()
    assert not at.exception and any(s.value.startswith("Done.") for s in at.success)
    # the run's time beside what the analysis expected of the base and size it trained
    assert any(c.value.startswith("From pressing Train: ") and "; the advice expected about " in c.value
               for c in at.caption)
    base = at.selectbox(key="base")
    assert base.value == DEFAULT_BACKBONE != LITE2_FIRST.recommended
    assert any(o.startswith("EfficientNet-Lite2") and o.endswith(", ranked first") for o in base.options)  # still


def test_the_analyze_command_says_what_the_ranking_advises(tmp_path, capsys):
    from tlcore.cli import main

    assert main(["analyze", "sample:support", "--workspace", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    line = next(line for line in printed.splitlines() if line.startswith("bases: "))
    assert "all-MiniLM-L6-v2" in line  # the English messages' base, against the multilingual one
