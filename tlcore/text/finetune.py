"""Strategy "finetune" for text, in the same two stages as for images.

1. A head trained on the cached sentence embeddings (the search's best head when the run has one).
2. Head on top of a fresh copy of the encoder with its top transformer layers unfrozen, a low
   learning rate with cosine decay, class weights for imbalanced classes, early stopping, and the
   weights with the lowest validation loss kept (stage 1's included).

Batches hold texts of similar length, each padded only to its own longest text (as for the
embeddings), in a new random order of batches every epoch.
"""

from __future__ import annotations

import time

import keras
import numpy as np

from ..devices import get_strategy
from ..train.candidate import Candidate, Context
from ..train.config import FinetuneConfig
from ..train.stages import (
    Deadline,
    EpochReport,
    KeepBest,
    answers_and_latency,
    class_weights,
    compile_for_finetuning,
    passes_after_training,
    preparing,
    read_every_split,
    stage_one_head,
    time_training_step,
    validation_seconds,
)
from .embed import padded
from .encoder import DEFAULT_LEARNING_RATE, DEFAULT_UNFREEZE, TextEncoder


def unfreeze_top(encoder: TextEncoder, n_layers: int) -> int:
    """Make the top `n_layers` transformer layers trainable; returns how many layers train."""
    encoder.transformer.trainable = True
    total = encoder.spec.n_blocks
    first = total - min(n_layers, total)
    for layer in encoder.transformer.layers:
        index = int(layer.name.rsplit("_", 1)[1]) if layer.name.startswith("transformer_layer_") else -1
        layer.trainable = index >= first
    return sum(layer.trainable for layer in encoder.transformer.layers if layer.weights)


class LengthBatches(keras.utils.PyDataset):
    """Batches of texts of similar length, padded per batch; the batch order is reshuffled every epoch."""

    def __init__(self, ids: list[np.ndarray], y: np.ndarray | None, batch_size: int, shuffle: bool, seed: int = 0,
                 weights: dict | None = None) -> None:
        super().__init__()
        order = np.argsort([len(i) for i in ids], kind="stable")
        self.batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
        self.ids, self.y, self.shuffle, self.weights = ids, y, shuffle, weights
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        rows = self.batches[self.order[index]]
        tokens, mask = padded([self.ids[i] for i in rows])
        x = {"token_ids": tokens, "padding_mask": mask}
        if self.y is None:
            return (x,)
        if self.weights is None:
            return x, self.y[rows]
        return x, self.y[rows], np.array([self.weights[int(np.argmax(t))] for t in self.y[rows]], np.float32)

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.batches)) if self.shuffle else np.arange(len(self.batches))

    def rows(self) -> np.ndarray:
        """Row indices in the order the batches yield them (for putting predictions back in order)."""
        return np.concatenate([self.batches[i] for i in self.order]) if self.batches else np.zeros(0, int)


def predict_logits(model: keras.Model, ids: list[np.ndarray], batch_size: int = 64,
                   callback: keras.callbacks.Callback | None = None) -> np.ndarray:
    """The model's outputs for `ids`, in their given order, computed in length-sorted batches; `callback` is told
    after each batch, as `Model.predict` tells its callbacks."""
    data = LengthBatches(ids, None, batch_size, shuffle=False)
    out = np.zeros((len(ids), model.output_shape[-1]), np.float64)
    for index in range(len(data)):
        out[data.batches[index]] = model.predict_on_batch(data[index][0])
        if callback is not None:
            callback.on_predict_batch_end(index)
    return out


def build_model(encoder: TextEncoder, head: keras.Model) -> tuple[keras.Model, keras.Model]:
    """token ids -> encoder -> sentence embedding -> head logits; and the model of the embedding alone."""
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in ("token_ids", "padding_mask")}
    embedding = encoder.model(inputs)
    return keras.Model(inputs, head(embedding), name="finetuned_text"), \
        keras.Model(inputs, embedding, name="finetuned_text_features")


def length_class(texts: list[str]) -> int:
    """The power of two at or above the texts' mean length in words: what a training step's time is kept under
    (`costs`), since batches are padded to their longest text and each batch holds texts of one length."""
    words = np.mean([len(text.split()) for text in texts]) if len(texts) else 1.0
    return int(2 ** np.ceil(np.log2(max(words, 1.0))))


def typical_texts(texts: list[str], count: int) -> list[str]:
    """The `count` texts whose length is nearest the mean: a batch that costs what an average batch costs."""
    words = np.array([len(text.split()) for text in texts], float)
    nearest = np.argsort(np.abs(words - words.mean()), kind="stable")[:count] if len(texts) else []
    return [texts[i] for i in sorted(nearest)]


def time_step(encoder: TextEncoder, texts: list[str], n_classes: int,
              blocks: int) -> tuple[float, float, float, float]:
    """Seconds per text on this machine of (the frozen encoder's forward pass, one fine-tuning step with the top
    `blocks` layers unfrozen, tokenising), timed on one batch of `texts` of typical length after a step that
    traces; and the seconds that tracing took beyond a step (once per run)."""
    texts = typical_texts(texts, FinetuneConfig.batch_size)
    start = time.perf_counter()
    tokens, mask = padded(encoder.token_ids(texts))
    decode = (time.perf_counter() - start) / len(texts)
    encoder.forward_graph(tokens, mask)  # trace (the analysis traced it for its own batch shapes)
    start = time.perf_counter()
    encoder.forward_graph(tokens, mask)
    forward = (time.perf_counter() - start) / len(texts)
    fresh = encoder.fresh()
    unfreeze_top(fresh, blocks)
    head = keras.Sequential([keras.layers.Dense(n_classes)], name="timing_head")
    model, _ = build_model(fresh, head)
    compile_for_finetuning(model, DEFAULT_LEARNING_RATE, 10)
    x = {"token_ids": tokens, "padding_mask": mask}
    target = keras.utils.to_categorical(np.arange(len(texts)) % n_classes, n_classes)
    step, trace = time_training_step(model, x, target)
    return forward, step, decode, trace


def run(ctx: Context) -> list[Candidate]:
    config = ctx.config.finetune
    blocks = config.unfreeze_blocks or DEFAULT_UNFREEZE
    rate = config.learning_rate or DEFAULT_LEARNING_RATE
    keras.utils.set_random_seed(ctx.config.seed)
    start = time.perf_counter()
    splits = ("train", "val", "test")
    ids = {s: ctx.base.token_ids(ctx.dataset.texts(s)) for s in splits}
    onehot = {s: keras.utils.to_categorical(ctx.labels[s], ctx.n_classes) for s in splits}
    weights = class_weights(ctx.labels["train"], ctx.n_classes)
    train_batches = LengthBatches(ids["train"], onehot["train"], config.batch_size, True, ctx.config.seed, weights)
    steps = len(train_batches) * config.epochs
    with get_strategy(ctx.config.distribution).scope():
        head = stage_one_head(ctx)
        encoder = ctx.base.fresh()  # never the shared one: its trainable flags change
        trainable = unfreeze_top(encoder, blocks)
        model, feature_model = build_model(encoder, head)
        compile_for_finetuning(model, rate, steps)
    preparing(ctx, "the model to fine-tune (built once, before its first epoch)")
    validation = LengthBatches(ids["val"], onehot["val"], 64, shuffle=False)  # padded per batch: fast
    keep = KeepBest((validation,))
    counts = {s: len(ctx.labels[s]) for s in ("train", "val", "test")}
    history = model.fit(
        train_batches, epochs=config.epochs, validation_data=validation, verbose=0,
        callbacks=[keep, keras.callbacks.EarlyStopping("val_loss", patience=config.patience),
                   Deadline(ctx.deadline, passes_after_training(counts), val_seconds=validation_seconds(ctx)),
                   EpochReport(ctx, config.epochs)],
    )  # fmt: skip
    seconds = time.perf_counter() - start
    features, took = read_every_split(  # the embeddings the head reads, with progress between batches
        ctx, {split: len(rows) for split, rows in ids.items()},
        lambda split, read: predict_logits(feature_model, ids[split], callback=read))
    logits, latency = answers_and_latency(head, features, took)
    return [Candidate(
        strategy="finetune",
        name=f"finetune_top{blocks}",
        val_logits=logits["val"],
        test_logits=logits["test"],
        train_seconds=seconds,
        size_bytes=model.count_params() * 4,
        latency_ms=latency,
        params={
            "unfreeze_blocks": blocks, "trainable_layers": trainable, "learning_rate": rate,
            "epochs_run": len(history.history.get("loss", [])), "best_epoch": keep.best_epoch,
            "class_weights": weights is not None,
            "history": {k: [float(v) for v in values] for k, values in history.history.items()},
        },
        model=model,
        complexity=10,
        parts=(feature_model, head),
        own_features=features,
    )]  # fmt: skip
