"""Strategy "finetune" for images, in two stages as in the keras.io guide.

1. A head trained on the cached features (`tlcore.train.stages.stage_one_head`).
2. Head on top of a fresh copy of the base, the top N blocks unfrozen, BatchNorm kept in
   inference mode (frozen, and the base called with training=False), a low learning rate with
   cosine decay, light augmentation, class weights for imbalanced classes, and early stopping
   on validation loss. The weights with the lowest validation loss win, including the stage-1
   weights: fine-tuning that only hurts is undone.
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
from .bases import DEFAULT_LEARNING_RATE, DEFAULT_UNFREEZE, Backbone
from .extract import load_images


def unfreeze_top(backbone: Backbone, n_blocks: int) -> int:
    """Make the top `n_blocks` blocks of the base trainable (BatchNorm stays frozen); returns trainable layers."""
    spec, layers = backbone.spec, backbone.body.layers
    backbone.body.trainable = True
    if spec.block_of is not None:
        first = spec.n_blocks + 1 - n_blocks
        chosen = {layer.name for layer in layers if spec.block_of(layer.name) >= first}
    else:  # no block table: the same share of the layers, from the top
        count = round(len(layers) * n_blocks / 16)
        chosen = {layer.name for layer in layers[len(layers) - count :]}
    for layer in layers:
        layer.trainable = layer.name in chosen and not isinstance(layer, keras.layers.BatchNormalization)
    return sum(layer.trainable for layer in layers if layer.weights)


def _augmentation(seed: int) -> keras.Sequential:
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.05, seed=seed),
        keras.layers.RandomZoom(0.1, seed=seed),
        keras.layers.RandomContrast(0.1, seed=seed),
    ], name="augment")  # fmt: skip


def build_model(backbone: Backbone, head: keras.Model, augment: bool, seed: int) -> tuple[keras.Model, keras.Model]:
    """Images at the base's size -> [augmentation] -> the base's preprocessing and body -> head logits; and
    the model of the features the head reads (sharing its layers, no augmentation)."""
    size = backbone.image_size
    images = keras.Input((size, size, 3), name="image")
    x = _augmentation(seed)(images) if augment else images
    features = backbone.model(x)[0]
    plain = keras.Input((size, size, 3), name="image")
    return keras.Model(images, head(features), name="finetuned"), \
        keras.Model(plain, backbone.model(plain)[0], name="finetuned_features")


def time_step(backbone: Backbone, files: list, n_classes: int, blocks: int) -> tuple[float, float, float, float]:
    """Seconds per image on this machine of (the frozen base's forward pass, one fine-tuning step with the top
    `blocks` unfrozen, reading and resizing), timed on up to one batch of `files` after a step that traces; and
    the seconds that tracing took beyond a step (once per run: a run traces its own model)."""
    from .engine import forward_seconds

    files = files[:FinetuneConfig.batch_size]
    start = time.perf_counter()
    images = load_images(files, backbone.image_size)
    decode = (time.perf_counter() - start) / len(files)
    forward = forward_seconds(backbone, images)[0]  # the engine the features were computed with (`image.engine`)
    base = backbone.fresh()
    unfreeze_top(base, blocks)
    head = keras.Sequential([keras.layers.Dense(n_classes)], name="timing_head")
    model, _ = build_model(base, head, augment=True, seed=0)
    compile_for_finetuning(model, DEFAULT_LEARNING_RATE, 10)
    target = keras.utils.to_categorical(np.arange(len(files)) % n_classes, n_classes)
    step, trace = time_training_step(model, images, target)
    return forward, step, decode, trace


def run(ctx: Context) -> list[Candidate]:
    config = ctx.config.finetune
    blocks = config.unfreeze_blocks or DEFAULT_UNFREEZE
    rate = config.learning_rate or DEFAULT_LEARNING_RATE
    keras.utils.set_random_seed(ctx.config.seed)
    start = time.perf_counter()
    files = {s: ctx.dataset.files(s) for s in ("train", "val", "test")}
    images = {s: load_images(files[s], ctx.base.image_size, ctx.progress) for s in files}
    onehot = {s: keras.utils.to_categorical(ctx.labels[s], ctx.n_classes) for s in files}
    steps = max(1, int(np.ceil(len(images["train"]) / config.batch_size))) * config.epochs
    with get_strategy(ctx.config.distribution).scope():  # variables live where the strategy puts them
        head = stage_one_head(ctx)
        backbone = ctx.base.fresh()  # never the shared one: its trainable flags change
        trainable = unfreeze_top(backbone, blocks)
        model, feature_model = build_model(backbone, head, config.augment, ctx.config.seed)
        compile_for_finetuning(model, rate, steps)
    preparing(ctx, "the model to fine-tune (built once, before its first epoch)")
    weights = class_weights(ctx.labels["train"], ctx.n_classes)
    keep = KeepBest((images["val"], onehot["val"]))
    counts = {s: len(ctx.labels[s]) for s in ("train", "val", "test")}
    history = model.fit(
        images["train"], onehot["train"], batch_size=config.batch_size, epochs=config.epochs,
        validation_data=(images["val"], onehot["val"]), class_weight=weights, verbose=0,
        callbacks=[keep, keras.callbacks.EarlyStopping("val_loss", patience=config.patience),
                   Deadline(ctx.deadline, passes_after_training(counts), val_seconds=validation_seconds(ctx)),
                   EpochReport(ctx, config.epochs)],
    )  # fmt: skip
    seconds = time.perf_counter() - start
    features, took = read_every_split(  # the features its head reads, every split, with progress between batches
        ctx, {split: len(rows) for split, rows in images.items()},
        lambda split, read: feature_model.predict(images[split], verbose=0, batch_size=64, callbacks=[read]))
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
            "unfreeze_blocks": blocks, "trainable_layers": trainable,
            "learning_rate": rate, "epochs_run": len(history.history.get("loss", [])),
            "best_epoch": keep.best_epoch, "class_weights": weights is not None,
            "history": {k: [float(v) for v in values] for k, values in history.history.items()},
        },
        model=model,
        complexity=10,
        parts=(feature_model, head),
        own_features=features,
    )]  # fmt: skip
