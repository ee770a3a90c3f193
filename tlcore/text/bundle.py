"""The text bundle: the tokenizer beside a model that maps its word-piece ids to class probabilities.

The string-to-ids step cannot live inside `model.keras`: keras-hub's in-graph tokenizer needs
tensorflow-text's compiled ops, whose wheel fails to load here (an ICU symbol it does not ship),
and keras-hub falls back to its own Python tokenizer. So the bundle holds `tokenizer/` (data
only, no code) and `model.keras` (token ids and padding mask -> encoder -> head -> probabilities).

Each base's runtime (`encoder.RUNTIMES`) names the Keras encoder a bundle carries and what writes its
tokenizer folder; `tokenizer/settings.json` names the kind of tokenizer (`TOKENIZER_KINDS`):
- "keras_hub.models.BertTokenizer" (MiniLM): `vocabulary.txt` and two settings; needs keras-hub.
- "sentencepiece" (USE-m): the SentencePiece model `sp.model`; needs the `sentencepiece` package.
Both load in safe mode with Keras and that one package; `predict.py` and `tlcore.predict` join them the
same way (`encode`: ids framed by the tokenizer's first and last markers, cut, padded).
"""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import numpy as np

from .embed import padded

TOKENIZER_FOLDER = "tokenizer"
BERT = "keras_hub.models.BertTokenizer"
PIECES = "sentencepiece"
PIECE_MODEL = "sp.model"  # the SentencePiece model's name inside tokenizer/ (fixed: a bundle never names a path)
CARD_USES = {  # the model card's "Use" lines, per kind of tokenizer
    BERT: [
        "```sh", "pip install keras tensorflow keras-hub", 'python predict.py "a text" ["another text" ...] [--json]',
        "```", "", "Or in Python: `keras_hub.models.BertTokenizer(vocabulary='tokenizer/vocabulary.txt')` turns",
        "texts into word-piece ids; framed by [CLS] and [SEP] and padded (`encode` in predict.py), they go into",
        "`keras.saving.load_model('model.keras', safe_mode=True)`, which returns the probabilities of the",
        "classes in `labels.json`.",
    ],
    PIECES: [
        "```sh", "pip install keras tensorflow sentencepiece",
        'python predict.py "a text" ["another text" ...] [--json]', "```", "",
        "Or in Python: `sentencepiece.SentencePieceProcessor(model_file='tokenizer/sp.model')` turns texts into",
        "piece ids; framed by <s> (1) and </s> (2) and padded (`encode` in predict.py), they go into",
        "`keras.saving.load_model('model.keras', safe_mode=True)` (the multilingual encoder is inside it), which",
        "returns the probabilities of the classes in `labels.json`.",
    ],
}  # fmt: skip


def bundle_graph(candidate, encoder, n_classes: int):
    """{token_ids, padding_mask} -> class scores and the embedding the head reads, for any exportable candidate."""
    import keras

    from ..modality import BundleGraph
    from ..train.as_keras import KERAS_FORMS
    from .encoder import runtime_function

    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in ("token_ids", "padding_mask")}
    if candidate.strategy == "finetune":
        feature_model, head = candidate.parts
        embedding = feature_model(inputs, training=False)
        return BundleGraph(inputs, embedding, logits=head(embedding, training=False), name="transferlab_text")
    embedding = runtime_function(encoder.spec.how.bundle_model)(encoder)(inputs, training=False)
    form = KERAS_FORMS.get(candidate.name)  # zero-shot's calibrated head is a Keras layer already
    logits = (form(candidate, n_classes) if form else candidate.model)(embedding)
    return BundleGraph(inputs, embedding, logits=logits, name="transferlab_text")


def keras_hub_model(encoder):
    """A keras-hub base's own sentence model (ids -> unit embedding): it is a Keras model already."""
    return encoder.model


def write_extras(model, result, folder: Path) -> dict:
    """The tokenizer beside the model, written as the base's runtime says; the manifest's text keys."""
    import json

    from .encoder import runtime_function

    runtime_function(result.base.spec.how.bundle_tokenizer)(result.base, folder)
    settings = json.loads((folder / TOKENIZER_FOLDER / "settings.json").read_text(encoding="utf-8"))
    return {"sequence_length": result.base.spec.sequence_length, "tokenizer": TOKENIZER_FOLDER,
            "tokenizer_kind": settings["kind"],
            "input": "token_ids and padding_mask from the tokenizer in tokenizer/ (see predict.py)"}


def save_tokenizer(encoder, folder: Path) -> None:
    """`tokenizer/vocabulary.txt` and `tokenizer/settings.json` of a BERT tokenizer: data only, nothing that runs."""
    from .. import runs

    tokenizer = encoder.tokenizer
    config = tokenizer.get_config()
    runs.write_atomic(folder / TOKENIZER_FOLDER / "vocabulary.txt", "\n".join(tokenizer.get_vocabulary()) + "\n")
    runs.write_json(folder / TOKENIZER_FOLDER / "settings.json",
                    {"kind": BERT, "lowercase": config["lowercase"], "strip_accents": config["strip_accents"]})


class PieceTokenizer:
    """A SentencePiece model as `encode` asks a tokenizer: texts -> piece ids, and the ids that frame a text."""

    def __init__(self, processor, first: int, last: int) -> None:
        self.processor, self.cls_token_id, self.sep_token_id = processor, first, last

    def __call__(self, texts):
        return self.processor.encode(list(texts), out_type=int)

    def vocabulary_size(self) -> int:
        return self.processor.get_piece_size()


def bert_tokenizer(here: Path, settings: dict):
    import keras_hub

    return keras_hub.models.BertTokenizer(vocabulary=str(here / "vocabulary.txt"),
                                          lowercase=bool(settings["lowercase"]),
                                          strip_accents=bool(settings["strip_accents"]))


def piece_tokenizer(here: Path, settings: dict):
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_file=str(here / "sp.model"))
    return PieceTokenizer(processor, int(settings["bos"]), int(settings["eos"]))


TOKENIZER_KINDS = {BERT: bert_tokenizer, PIECES: piece_tokenizer}


def load_tokenizer(folder: Path):
    """The tokenizer a bundle (or this function's copy in predict.py) describes in tokenizer/settings.json."""
    import json

    here = Path(folder) / "tokenizer"
    settings = json.loads((here / "settings.json").read_text(encoding="utf-8"))
    kind = settings.get("kind") if isinstance(settings, dict) else None
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"tokenizer/settings.json names the kind {kind!r}; known: {', '.join(TOKENIZER_KINDS)}")
    return TOKENIZER_KINDS[kind](here, settings)


def encode(tokenizer, texts: list[str], sequence_length: int) -> dict[str, np.ndarray]:
    """Word-piece ids framed by [CLS] and [SEP], cut to `sequence_length`, padded to the longest (the model's input)."""
    cls, sep, keep = tokenizer.cls_token_id, tokenizer.sep_token_id, sequence_length - 2
    ids = [np.array([cls, *np.asarray(p)[:keep].tolist(), sep], np.int32) for p in tokenizer(list(texts))]
    tokens, mask = padded(ids)
    return {"token_ids": tokens, "padding_mask": mask}


def predict_script() -> str:
    """A standalone predict.py for a text bundle: keras, numpy and its tokenizer's package (keras-hub or
    sentencepiece, imported only for that kind); `encode`, the tokenizers and `answer` copied in."""
    from ..predict import answer

    helpers = "\n\n".join(textwrap.dedent(inspect.getsource(f)) for f in (
        padded, encode, PieceTokenizer, bert_tokenizer, piece_tokenizer))
    loading = "\n\n".join(textwrap.dedent(inspect.getsource(f)) for f in (load_tokenizer, answer))
    return f'''"""Predict with this bundle: python predict.py "a text" ["another" ...] [--json].

Needs keras, tensorflow and the package of the tokenizer named in tokenizer/settings.json: keras-hub
("keras_hub.models.BertTokenizer") or sentencepiece ("sentencepiece")."""

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


TOKENIZER_KINDS = {{{BERT!r}: bert_tokenizer, {PIECES!r}: piece_tokenizer}}


{loading}


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
