"""The text path on the real offline encoder: embeddings, measures, strategies, bundle and CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import REPO, shared_dataset
from tlcore.strategy import recommend as shared_recommend
from tlcore.text import zeroshot
from tlcore.text.embed import embed_texts
from tlcore.text.encoder import get_text_spec
from tlcore.text.measures import language_of, read_text_gap, text_gap
from tlcore.transferability import Transferability

SPAM = ["Win a {} now, text WIN to 80082", "URGENT: claim your free {} today", "You have won a {}! Call 0906 now",
        "Free {} for you, reply YES to claim", "Congratulations, a {} is waiting, call now"]
HAM = ["Shall we get a {} after work?", "I left the {} at your place", "Can you bring the {} tomorrow",
       "Mum says thanks for the {}", "Running late, save me a {}"]
PRIZES = ["holiday", "phone", "voucher", "prize", "camera", "laptop", "cash reward", "ringtone"]
THINGS = ["coffee", "umbrella", "keys", "book", "pizza", "charger", "jacket", "cake"]


@pytest.fixture(scope="session")
def encoder():
    from tlcore.text.encoder import load_text_encoder

    return load_text_encoder()


def texts_csv(folder: Path) -> Path:
    rows = [(t.format(x), "spam") for t in SPAM for x in PRIZES] + [(t.format(x), "ham") for t in HAM for x in THINGS]
    path = folder / "messages.csv"
    path.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def messages(tmp_path_factory):
    from tlcore.text.data import import_text_dataset

    folder = tmp_path_factory.mktemp("messages")
    return import_text_dataset(texts_csv(folder), folder / "ws")


def test_encoder_gives_the_published_sentence_similarity(encoder):
    pair = ["A man is eating food.", "A man is eating a piece of bread."]
    a, b = embed_texts(pair, encoder, use_cache=False).features
    assert encoder.transformer.count_params() == pytest.approx(22.7e6, rel=0.01)
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    assert float(a @ b) == pytest.approx(0.755, abs=0.002)  # all-MiniLM-L6-v2's published value


def test_length_sorted_batches_equal_full_padding_and_keep_the_order(encoder, tmp_path):
    texts = ["short", "a much longer text " * 20, "medium length text here", "x", "another one of middling size"]
    sorted_run = embed_texts(texts, encoder, batch_size=2, use_cache=False).features
    fixed = embed_texts(texts, encoder, batch_size=2, sort_by_length=False, use_cache=False).features
    alone = np.stack([embed_texts([t], encoder, use_cache=False).features[0] for t in texts])
    np.testing.assert_allclose(sorted_run, fixed, atol=1e-5)
    np.testing.assert_allclose(sorted_run, alone, atol=1e-5)


def test_embeddings_are_cached(encoder, tmp_path):
    texts = ["one text", "two texts"]
    first = embed_texts(texts, encoder, cache_dir=tmp_path)
    second = embed_texts(texts, encoder, cache_dir=tmp_path)
    assert not first.from_cache and second.from_cache
    np.testing.assert_array_equal(first.features, second.features)
    assert not embed_texts(["one text", "changed"], encoder, cache_dir=tmp_path).from_cache


def test_long_texts_are_cut_to_the_window(encoder):
    (ids,) = encoder.token_ids(["word " * 500])
    assert len(ids) == encoder.spec.sequence_length
    assert ids[0] == encoder.tokenizer.cls_token_id and ids[-1] == encoder.tokenizer.sep_token_id


def test_language_vote():
    assert language_of("Das ist doch nicht mehr zu ertragen, und die Regierung schweigt") == "de"
    assert language_of("This is not what we were told, and the government says nothing") == "en"
    assert language_of("12345 :-)") is None


def test_text_gap_flags_german_and_not_english(encoder):
    english = ["The weather is lovely today and we are going to the beach", "Please send me the report by Friday"]
    german = ["Die Bundesregierung hat heute beschlossen, die Steuern nicht zu erhöhen",
              "Ich verstehe überhaupt nicht, warum das so lange dauert"]
    near, far = text_gap(encoder, english * 5), text_gap(encoder, german * 5)
    assert near.non_english_share == 0.0 and far.non_english_share == 1.0
    assert far.pieces_per_word > near.pieces_per_word + 0.3
    spec = get_text_spec("minilm_l6")
    assert not read_text_gap(near, spec, 100, False).far
    reading = read_text_gap(far, spec, 100, False)
    assert reading.far and reading.settings["unfreeze_blocks"] == spec.n_blocks


def _measures(probe=0.8, asis=0.5):
    return Transferability(logme=0.0, leep=-1.0, asis_accuracy=asis, probe_accuracy=probe, loo_accuracy=probe,
                           slope=0.0)


def recommend(size, overlap, gap, measures, spec, image_size, zero_shot=None):
    """The shared rule fed the text reading, as `TextModality.measure` and `analyze` feed it."""
    reading = read_text_gap(gap, spec, size["per_class_known_median"], False, measures)
    return shared_recommend(size, measures, reading, zero_shot or 0.0, "general English", aim="best")


def test_shared_recommendation_reacts_to_the_text_gap():
    spec = get_text_spec("minilm_l6")
    size = {"per_class_known_median": 500}
    english = SimpleNamespace(non_english_share=0.01, pieces_per_word=1.1, unknown_share=0.0, languages={"en": 0.99})
    german = SimpleNamespace(non_english_share=0.99, pieces_per_word=1.87, unknown_share=0.03, languages={"de": 0.99})
    assert recommend(size, None, english, _measures(probe=0.95), spec, None).strategy == "extract"
    far = recommend(size, None, german, _measures(probe=0.95), spec, None)
    assert far.strategy == "finetune" and "99% of your texts are not English (de 99%)" in far.reasons[1]
    assert far.settings["unfreeze_blocks"] == 6  # another language: the whole encoder
    task = recommend(size, None, english, _measures(probe=0.8), spec, None)  # English, but the labels are not
    assert task.strategy == "finetune" and "carry your labels only to 80.0%" in task.reasons[1]  # in the embedding
    # the reason first (walk 9 read "far from general English: 0% of your texts are not English")
    assert task.reasons[1].startswith("Your data is far from general English: the language is the encoder's own (1% ")
    assert task.settings["unfreeze_blocks"] == 3
    few = recommend({"per_class_known_median": 20}, None, german, _measures(probe=0.8), spec, None)
    assert few.strategy == "extract"  # too few texts to adapt an encoder
    assert recommend(size, None, english, _measures(probe=0.8), spec, None, 0.85).strategy == "predict"


def test_zero_shot_calibration_recovers_scale_and_bias():
    rng = np.random.default_rng(0)
    cosines = rng.uniform(-0.2, 0.6, size=(20000, 3))
    logits = 25.0 * cosines + np.array([0.0, 1.0, -1.0])
    labels = np.array([rng.choice(3, p=np.exp(r - r.max()) / np.exp(r - r.max()).sum()) for r in logits])
    scale, bias = zeroshot.fit_calibration(cosines, labels)
    assert scale == pytest.approx(25.0, rel=0.1)
    np.testing.assert_allclose(bias - bias[0], [0.0, 1.0, -1.0], atol=0.15)
    assert zeroshot.cv_accuracy(cosines, labels) > zeroshot.cv_accuracy(cosines, rng.permutation(labels)) + 0.2


def test_zero_shot_uses_typed_descriptions(encoder, messages):
    plain = zeroshot.prototypes(encoder, messages.classes)
    described = zeroshot.prototypes(encoder, messages.classes, {"spam": "an advert or a scam asking you to call"})
    np.testing.assert_allclose(plain[0], described[0], atol=1e-5)  # ham: its name
    assert float(plain[1] @ described[1]) < 0.9  # spam: the description, not the name
    assert zeroshot.class_prompt("NUMERIC_VALUE") == "numeric value"


def test_text_analysis_recommends_with_numbers(messages):
    from tlcore.analysis import analyze

    analysis = analyze(messages)
    report = analysis.to_dict()
    assert report["modality"] == "text" and report["dataset"]["n_texts"] == len(messages)
    assert report["domain_gap"]["non_english_share"] == 0.0
    assert analysis.recommendation.strategy in ("predict", "extract")  # English, far too few texts to fine-tune
    assert analysis.transferability.probe_accuracy > 0.9  # the templates are easy to tell apart


@pytest.fixture(scope="module")
def extract_run(messages, tmp_path_factory):
    from tlcore.train import SearchConfig, TrainConfig, train

    config = TrainConfig(strategies=("predict", "extract"), budget_seconds=120, stop_early=False,
                         baselines=("logistic_regression", "knn"), search=SearchConfig(max_trials=1))
    return train(messages, config, tmp_path_factory.mktemp("run"))


def test_text_run_trains_predict_and_extract(extract_run, messages):
    board = extract_run.leaderboard
    assert set(board["strategy"]) == {"predict", "extract"}
    assert {"zero_shot_names", "logistic_regression", "keras_head"} <= set(board["model"])
    assert extract_run.report["modality"] == "text" and extract_run.report["backbone"] == "minilm_l6"
    assert extract_run.test.accuracy >= 0.9
    assert all(m["file"] in messages.texts("test") for m in extract_run.report["misclassified"])


def test_a_two_class_ridge_head_round_trips_through_its_bundle(messages, tmp_path):
    from tlcore.export import export_bundle
    from tlcore.predict import load_bundle, predict_texts
    from tlcore.train import SearchConfig, TrainConfig, train

    config = TrainConfig(strategies=("extract",), budget_seconds=120, baselines=("ridge",),
                         search=SearchConfig(max_trials=0))
    result = train(messages, config, tmp_path)
    assert result.selected.name == "ridge" and len(messages.classes) == 2  # one row of weights, an intercept number
    bundle = load_bundle(export_bundle(result))
    probs = np.array([[t["prob"] for t in sorted(r["top"], key=lambda t: bundle.labels.index(t["label"]))]
                      for r in predict_texts(bundle, messages.texts("test"))])
    expected = np.exp(result.selected.test_logits / result.test.temperature)
    np.testing.assert_allclose(probs, expected / expected.sum(axis=1, keepdims=True), atol=1e-4)


def test_text_bundle_predicts_the_same_in_a_fresh_process_without_tlcore(extract_run, tmp_path):
    from tlcore.export import export_bundle
    from tlcore.predict import load_bundle, predict_texts

    archive = export_bundle(extract_run)
    bundle = load_bundle(archive)
    assert bundle.modality == "text" and sorted(bundle.labels) == ["ham", "spam"]
    folder = archive.with_suffix("")
    assert sorted(p.name for p in (folder / "tokenizer").iterdir()) == ["settings.json", "vocabulary.txt"]
    texts = ["URGENT! You have won a free laptop, call now", "Can you bring the umbrella tomorrow"]
    ours = predict_texts(bundle, texts)
    assert [r["label"] for r in ours] == ["spam", "ham"]
    script = subprocess.run([sys.executable, "-I", str(folder / "predict.py"), *texts, "--json"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert script.returncode == 0, script.stderr[-2000:]
    theirs = json.loads(script.stdout)
    for a, b in zip(ours, theirs, strict=True):
        assert a["label"] == b["label"]
        np.testing.assert_allclose([t["prob"] for t in a["top"]], [t["prob"] for t in b["top"]], atol=1e-5)
        assert a["unknown"] == b["unknown"] and a["unknown_score"] == pytest.approx(b["unknown_score"], rel=1e-4)
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# Text classifier") and "keras-hub" in card


def test_word_weights_show_which_words_the_text_model_read(extract_run, tmp_path):
    """Leaving one word out: the spam sentence's words argue for spam, the words of a ham sentence beside it do
    not; and each weight is exactly the drop of the class's probability when that word is left out."""
    from tlcore.export import export_bundle
    from tlcore.modality import get_modality
    from tlcore.predict import load_bundle, predict_texts

    bundle = load_bundle(export_bundle(extract_run, tmp_path / "bundle", tflite=False))
    spam_part, ham_part = "URGENT: claim your free voucher today", "Running late, save me a cake"
    explanation = get_modality("text").explain(bundle, f"{spam_part} {ham_part}", bundle.labels.index("spam"))
    weights = [w for _, w in explanation.words]
    n_spam = len(spam_part.split())
    assert [w for w, _ in explanation.words] == f"{spam_part} {ham_part}".split()
    assert sum(weights[:n_spam]) > sum(weights[n_spam:]) and max(weights) == max(weights[:n_spam])
    text = f"{spam_part} {ham_part}"
    whole, without_first = predict_texts(bundle, [text, text.split(" ", 1)[1]])
    prob = lambda r: dict((t["label"], t["prob"]) for t in r["top"])["spam"]  # noqa: E731
    assert weights[0] == pytest.approx(prob(whole) - prob(without_first), abs=1e-3)


def test_altered_tokenizer_is_refused(extract_run, tmp_path):
    import shutil

    from tlcore.export import export_bundle
    from tlcore.predict import BundleError, load_bundle

    folder = export_bundle(extract_run, tmp_path / "bundle").with_suffix("")
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "tokenizer" / "settings.json").unlink()
    with pytest.raises(BundleError, match="tokenizer could not be loaded"):
        load_bundle(broken)


@pytest.mark.slow
def test_cli_trains_on_a_csv_and_predicts_texts(tmp_path):
    env = {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    import os

    env = os.environ | env
    source = texts_csv(tmp_path)
    trained = subprocess.run([sys.executable, "-m", "tlcore", "train", str(source), "--strategy", "extract",
                              "--baselines", "logistic_regression", "--trials", "0", "--budget-seconds", "120",
                              "--workspace", str(tmp_path / "ws"), "--json"],
                             capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-2000:]
    bundle = json.loads(trained.stdout)["bundle"]
    predicted = subprocess.run([sys.executable, "-m", "tlcore", "predict", bundle, "Free camera for you, reply YES",
                                "--json"], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    assert json.loads(predicted.stdout)[0]["label"] == "spam"


@pytest.mark.slow
def test_text_finetune_round_trips_through_its_bundle(messages, tmp_path):
    from tlcore.export import export_bundle
    from tlcore.predict import load_bundle, predict_texts
    from tlcore.train import FinetuneConfig, SearchConfig, TrainConfig, train

    config = TrainConfig(strategies=("finetune",), budget_seconds=300, search=SearchConfig(max_trials=0),
                         baselines=(), finetune=FinetuneConfig(unfreeze_blocks=2, epochs=2))  # no first head
    seen = []
    result = train(messages, config, tmp_path, progress=seen.append)
    (candidate,) = result.candidates
    assert candidate.name == "finetune_top2" and candidate.params["trainable_layers"] >= 2
    read = [p.done for p in seen if p.stage == "answers"]  # every text through the tuned encoder, with progress
    assert read == sorted(read) and read[-1] == len(messages)
    bundle = load_bundle(export_bundle(result))
    test_texts = messages.texts("test")
    probs = np.array([[t["prob"] for t in sorted(r["top"], key=lambda t: bundle.labels.index(t["label"]))]
                      for r in predict_texts(bundle, test_texts)])
    expected = np.exp(candidate.test_logits / result.test.temperature)
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, atol=1e-4)


@pytest.mark.slow
def test_extract_reaches_the_reference_accuracy_on_sms_spam(tmp_path):
    """The reference recipe (logistic regression on the embeddings: 98.5%) is reached by extract's own baseline.

    The other datasets reach theirs through the head search (benchmarks/bench_text.py), too slow for here.
    """
    from tlcore.text.data import import_text_dataset
    from tlcore.train import SearchConfig, TrainConfig, train

    dataset = import_text_dataset(shared_dataset("text") / "sms_spam.csv", tmp_path)
    config = TrainConfig(strategies=("extract",), budget_seconds=600, baselines=("logistic_regression",),
                         search=SearchConfig(max_trials=0))
    assert train(dataset, config, tmp_path).test.accuracy >= 0.985


def test_measures_flag_german_tweets(encoder):
    """germeval2018 is far from an English encoder, and the measures say so (tokenizer only: fast)."""
    import pandas as pd

    texts = pd.read_csv(shared_dataset("text") / "germeval2018.csv")["text"].astype(str).tolist()
    gap = text_gap(encoder, texts)
    assert gap.non_english_share > 0.9 and max(gap.languages, key=gap.languages.get) == "de"
    assert gap.pieces_per_word > 1.6 and gap.unknown_share > 0.01
    assert read_text_gap(gap, encoder.spec, 2000, False).far


def test_audit_finds_near_duplicate_texts_across_splits(encoder, tmp_path):
    from tlcore.text.audit import audit_text
    from tlcore.text.data import import_text_dataset

    source = texts_csv(tmp_path)
    with source.open("a", encoding="utf-8") as f:  # two copies that differ in a number, and an exact duplicate
        f.write('"Congrats! 2 mobile 3G Videophones R yours. call 09063458130 now!",spam\n'
                '"Congrats! 2 mobile 3G Videophones R yours. call 09061744553 now!",spam\n'
                '"URGENT: claim your free holiday today",spam\n')
    dataset = import_text_dataset(source, tmp_path / "ws")
    assert any(s.reason.startswith("duplicate of") for s in dataset.skipped)  # the exact copy was dropped
    features = embed_texts(dataset.texts(), encoder).features
    report = audit_text(dataset, features).to_dict(dataset)
    pairs = [p for p in report["near_duplicates"] if any("Videophones" in t for t in p["files"])]
    assert len(pairs) == 1 and pairs[0]["similarity"] >= 0.95
    assert report["n_texts"] == len(dataset) and report["modality"] == "text"
    assert (len(report["leakage"]) > 0) == any(p["leakage"] for p in report["near_duplicates"])


def test_language_identification_reads_short_technical_english_as_english():
    """The function-word vote it replaced called English commit messages Portuguese (issue 17)."""
    from tlcore.text.measures import language_of

    commits = ["Fix typo in README", "Bump version to 2.3.1", "Add tests for the parser", "Refactor config loading",
               "Update dependencies", "Remove unused imports", "fix: handle empty input in tokenizer"]
    assert [language_of(c) for c in commits] == ["en"] * len(commits)
    assert language_of("Das ist ein deutscher Satz über Katzen und Hunde.") == "de"
    assert language_of("Это предложение на русском языке.") == "ru"
    assert language_of("12345 !!!") is None
