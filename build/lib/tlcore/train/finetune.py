"""Strategy "finetune", in two stages as in the keras.io guide.

1. A head trained on the cached features (the search's best head when the run has one).
2. Head on top of a fresh copy of the base, the top N blocks unfrozen, BatchNorm kept in
   inference mode (frozen, and the base called with training=False), a low learning rate with
   cosine decay, light augmentation, class weights for imbalanced classes, and early stopping
   on validation loss. The weights with the lowest validation loss win, including the stage-1
   weights: fine-tuning that only hurts is undone.
"""

from __future__ import annotations

import time

import keras
import keras_tuner as kt
import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from ..backbones import Backbone, build_backbone
from ..distribute import get_strategy
from ..features import load_images
from ..progress import report
from .candidate import Candidate, Context, per_sample_ms
from .search import HeadHyperModel

IMBALANCE_FOR_WEIGHTS = 1.5
DEFAULT_UNFREEZE, DEFAULT_LEARNING_RATE = 12, 2e-4  # measured: see the README's fine-tuning table


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


def stage_one_head(ctx: Context) -> keras.Model:
    """The search's best head (a copy), or the default head trained now on the cached features."""
    best = ctx.shared.get("keras_head")
    if best is not None:
        head = keras.models.clone_model(best)
        head.set_weights(best.get_weights())
        return head
    x = ctx.features["train"].features
    hypermodel = HeadHyperModel.for_features(x, ctx.n_classes, ctx.config.search)
    hp = kt.HyperParameters()
    head = hypermodel.build(hp)  # every hyperparameter at its known-good default
    onehot = {s: keras.utils.to_categorical(ctx.labels[s], ctx.n_classes) for s in ("train", "val")}
    hypermodel.fit(hp, head, x, onehot["train"], validation_data=(ctx.features["val"].features, onehot["val"]))
    return head


class KeepBest(keras.callbacks.Callback):
    """Remember the weights with the lowest validation loss, starting from before the first epoch."""

    def __init__(self, validation: tuple) -> None:
        super().__init__()
        self.validation = validation  # (x, y) arrays, or (a dataset of batches,)

    def on_train_begin(self, logs=None):
        batch = {"batch_size": 64} if len(self.validation) > 1 else {}
        self.best_loss = self.model.evaluate(*self.validation, verbose=0, return_dict=True, **batch)["loss"]
        self.best_weights, self.best_epoch = self.model.get_weights(), 0

    def on_epoch_end(self, epoch, logs=None):
        if logs and logs.get("val_loss", np.inf) < self.best_loss:
            self.best_loss, self.best_weights, self.best_epoch = logs["val_loss"], self.model.get_weights(), epoch + 1

    def on_train_end(self, logs=None):
        self.model.set_weights(self.best_weights)


class Deadline(keras.callbacks.Callback):
    """Stop training after the batch during which the deadline passed."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() >= self.deadline:
            self.model.stop_training = True


class EpochReport(keras.callbacks.Callback):
    def __init__(self, ctx: Context, epochs: int) -> None:
        super().__init__()
        self.ctx, self.epochs = ctx, epochs

    def on_epoch_end(self, epoch, logs=None):
        shown = ("loss", "accuracy", "val_loss", "val_accuracy")
        metrics = {k: float(v) for k, v in (logs or {}).items() if k in shown}
        text = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items())
        report(self.ctx.progress, "finetune", epoch + 1, self.epochs, f"epoch {epoch + 1}: {text}", metrics)


def _augmentation(seed: int) -> keras.Sequential:
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.05, seed=seed),
        keras.layers.RandomZoom(0.1, seed=seed),
        keras.layers.RandomContrast(0.1, seed=seed),
    ], name="augment")  # fmt: skip


def class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float] | None:
    """Balanced weights per class present, when the training classes are imbalanced; else None."""
    counts = np.bincount(labels, minlength=n_classes)
    if counts.max() / max(counts.min(), 1) <= IMBALANCE_FOR_WEIGHTS:
        return None
    present = np.flatnonzero(counts)
    balanced = compute_class_weight("balanced", classes=present, y=labels)
    return dict(zip(present.tolist(), balanced.tolist(), strict=True))


def compile_for_finetuning(model: keras.Model, learning_rate: float, steps: int) -> None:
    """Adam with cosine decay over `steps`, label-smoothed cross-entropy on logits: both stage-2 recipes."""
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, steps)),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        metrics=["accuracy"],
    )


def build_model(backbone: Backbone, head: keras.Model, augment: bool, seed: int) -> keras.Model:
    """Raw images -> [augmentation] -> the base's preprocessing and body -> head logits."""
    size = backbone.image_size
    images = keras.Input((size, size, 3), name="image")
    x = _augmentation(seed)(images) if augment else images
    features = backbone.model(x)[0]
    return keras.Model(images, head(features), name="finetuned")


def run(ctx: Context) -> list[Candidate]:
    config = ctx.config.finetune
    blocks = config.unfreeze_blocks or DEFAULT_UNFREEZE
    rate = config.learning_rate or DEFAULT_LEARNING_RATE
    keras.utils.set_random_seed(ctx.config.seed)
    start = time.perf_counter()
    files = {s: ctx.dataset.files(s) for s in ("train", "val", "test")}
    images = {s: load_images(files[s], ctx.backbone.image_size, ctx.progress) for s in files}
    onehot = {s: keras.utils.to_categorical(ctx.labels[s], ctx.n_classes) for s in files}
    steps = max(1, int(np.ceil(len(images["train"]) / config.batch_size))) * config.epochs
    with get_strategy(ctx.config.distribution).scope():  # variables live where the strategy puts them
        head = stage_one_head(ctx)
        backbone = build_backbone(ctx.backbone.spec.name, ctx.backbone.image_size)  # fresh, never the shared one
        trainable = unfreeze_top(backbone, blocks)
        model = build_model(backbone, head, config.augment, ctx.config.seed)
        compile_for_finetuning(model, rate, steps)
    weights = class_weights(ctx.labels["train"], ctx.n_classes)
    keep = KeepBest((images["val"], onehot["val"]))
    history = model.fit(
        images["train"], onehot["train"], batch_size=config.batch_size, epochs=config.epochs,
        validation_data=(images["val"], onehot["val"]), class_weight=weights, verbose=0,
        callbacks=[keep, keras.callbacks.EarlyStopping("val_loss", patience=config.patience),
                   Deadline(ctx.deadline), EpochReport(ctx, config.epochs)],
    )  # fmt: skip
    seconds = time.perf_counter() - start
    predict = lambda x: model.predict(x, verbose=0, batch_size=64)  # noqa: E731
    return [Candidate(
        strategy="finetune",
        name=f"finetune_top{blocks}",
        val_logits=predict(images["val"]).astype(np.float64),
        test_logits=predict(images["test"]).astype(np.float64),
        train_seconds=seconds,
        size_bytes=model.count_params() * 4,
        latency_ms=per_sample_ms(predict, images["val"]),
        params={
            "unfreeze_blocks": blocks, "trainable_layers": trainable,
            "learning_rate": rate, "epochs_run": len(history.history.get("loss", [])),
            "best_epoch": keep.best_epoch, "class_weights": weights is not None,
            "history": {k: [float(v) for v in values] for k, values in history.history.items()},
        },
        model=model,
        complexity=10,
    )]  # fmt: skip
