"""The text bundle: the tokenizer beside a model that maps its word-piece ids to class probabilities.

The string-to-ids step cannot live inside `model.keras`: keras-hub's in-graph tokenizer needs
tensorflow-text's compiled ops, whose wheel fails to load here (an ICU symbol it does not ship),
and keras-hub falls back to its own Python tokenizer. So the bundle holds `tokenizer/` (a
keras-hub preset: its configuration and vocabulary, no code) and `model.keras` (token ids and
padding mask -> encoder -> head -> probabilities). Both load in safe mode with Keras and
keras-hub alone; `predict.py` and `tlcore.predict` join them the same way.
"""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import numpy as np

from .embed import padded

TOKENIZER_FOLDER = "tokenizer"
CARD_USE = [
    "```sh", "pip install keras tensorflow keras-hub", 'python predict.py "a text" ["another text" ...] [--json]',
    "```", "", "Or in Python: `keras_hub.models.BertTokenizer.from_preset('tokenizer')` turns texts into",
    "word-piece ids; framed by [CLS] and [SEP] and padded (`encode` in predict.py), they go into",
    "`keras.saving.load_model('model.keras', safe_mode=True)`, which returns the probabilities of the",
    "classes in `labels.json`.",
]  # fmt: skip


def bundle_graph(candidate, encoder, n_classes: int):
    """{token_ids, padding_mask} -> class scores and the embedding the head reads, for any exportable candidate."""
    import keras

    from ..modality import BundleGraph
    from ..train.as_keras import KERAS_FORMS

    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in ("token_ids", "padding_mask")}
    if candidate.strategy == "finetune":
        feature_model, head = candidate.parts
        embedding = feature_model(inputs, training=False)
        return BundleGraph(inputs, embedding, logits=head(embedding, training=False), name="transferlab_text")
    embedding = encoder.model(inputs, training=False)
    form = KERAS_FORMS.get(candidate.name)  # zero-shot's calibrated head is a Keras layer already
    logits = (form(candidate, n_classes) if form else candidate.model)(embedding)
    return BundleGraph(inputs, embedding, logits=logits, name="transferlab_text")


def write_extras(model, result, folder: Path) -> dict:
    """The tokenizer beside the model; the manifest's text keys."""
    save_tokenizer(result.base, folder)
    return {"sequence_length": result.base.spec.sequence_length, "tokenizer": TOKENIZER_FOLDER,
            "input": "token_ids and padding_mask from the tokenizer in tokenizer/ (see predict.py)"}


def save_tokenizer(encoder, folder: Path) -> None:
    """`tokenizer/vocabulary.txt` and `tokenizer/settings.json`: data only, nothing that runs."""
    from .. import runs

    tokenizer = encoder.tokenizer
    config = tokenizer.get_config()
    runs.write_atomic(folder / TOKENIZER_FOLDER / "vocabulary.txt", "\n".join(tokenizer.get_vocabulary()) + "\n")
    runs.write_json(folder / TOKENIZER_FOLDER / "settings.json",
                    {"kind": "keras_hub.models.BertTokenizer", "lowercase": config["lowercase"],
                     "strip_accents": config["strip_accents"]})


def load_tokenizer(folder: Path):
    """The keras-hub tokenizer a bundle (or this function's copy in predict.py) describes."""
    import json

    import keras_hub

    here = Path(folder) / "tokenizer"
    settings = json.loads((here / "settings.json").read_text(encoding="utf-8"))
    return keras_hub.models.BertTokenizer(vocabulary=str(here / "vocabulary.txt"),
                                          lowercase=bool(settings["lowercase"]),
                                          strip_accents=bool(settings["strip_accents"]))


def encode(tokenizer, texts: list[str], sequence_length: int) -> dict[str, np.ndarray]:
    """Word-piece ids framed by [CLS] and [SEP], cut to `sequence_length`, padded to the longest (the model's input)."""
    cls, sep, keep = tokenizer.cls_token_id, tokenizer.sep_token_id, sequence_length - 2
    ids = [np.array([cls, *np.asarray(p)[:keep].tolist(), sep], np.int32) for p in tokenizer(list(texts))]
    tokens, mask = padded(ids)
    return {"token_ids": tokens, "padding_mask": mask}


def predict_script() -> str:
    """A standalone predict.py for a text bundle: keras, keras-hub and numpy only; `encode` and `answer` copied in."""
    from ..predict import answer

    helpers = "\n\n".join(textwrap.dedent(inspect.getsource(f)) for f in (padded, encode, load_tokenizer, answer))
    return f'''"""Predict with this bundle: python predict.py "a text" ["another" ...] [--json].

Needs keras, tensorflow and keras-hub."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

HERE = Path(__file__).resolve().parent
UNKNOWN = "\\t(looks like none of these classes)"


{helpers}


def main(argv):
    as_json = "--json" in argv
    texts = [a for a in argv if a != "--json"]
    model = keras.saving.load_model(HERE / "model.keras", safe_mode=True, compile=False)
    tokenizer = load_tokenizer(HERE)
    labels = json.loads((HERE / "labels.json").read_text(encoding="utf-8"))
    length = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))["sequence_length"]
    results = [dict(text=text, **answer(model.predict(encode(tokenizer, [text], length), verbose=0), labels))
               for text in texts]
    if as_json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for r in results:
            print(f"{{r['label']}}\\t{{r['prob']:.4f}}\\t{{r['text']}}{{UNKNOWN if r['unknown'] else ''}}")


if __name__ == "__main__":
    main(sys.argv[1:])
'''
