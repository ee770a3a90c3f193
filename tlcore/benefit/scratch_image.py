"""No transfer for images: a small convolutional network from random initialisation, on the run's own splits.

What a user would train without a pretrained base: a stride-2 stem and a few conv blocks (conv, batch norm,
ReLU, max pooling), global average pooling and a linear layer, the same light augmentation as fine-tuning, the
same image size as the run. Adam, early stopping on validation loss (the weights with the lowest validation loss
are kept) and a deadline checked between batches, so it trains in the time it is given and no longer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import numpy as np

from ..image.extract import load_images
from ..image.finetune import _augmentation as finetune_augmentation  # the same augmentation, not a copy
from ..modality import modality_of
from ..progress import ProgressCallback, report
from ..train.stages import Deadline, KeepBest, class_weights
from .config import BenefitConfig, Fitted, ScratchConfig

# Measured on this machine (2 cores, AVX-512, beside another benchmark; shapes at 64 and 96 px): seconds per
# training image per epoch of the default network at 128 px (forward, backward, augmentation; training scales with
# the pixels), the first epoch's tracing and building, and one image decoded and resized.
STEP_SECONDS_128 = 0.03
FIT_OVERHEAD_SECONDS = 6.0
DECODE_SECONDS = 0.004
REFERENCE_SIDE = 128
# Keras's default 0.99 leaves the moving statistics near their initial values for the first hundred steps: on a
# small set (a few batches an epoch) validation in inference mode then reads noise for many epochs.
BN_MOMENTUM = 0.9


@dataclass(frozen=True, eq=False)
class Loaded:
    """Every split decoded once at the run's image size, reused by every fraction's network."""

    size: int
    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    n_classes: int


def image_size(dataset, config: BenefitConfig) -> int:
    """The run's image size: the one given, else the one the base would be resolved with."""
    return config.image_size or modality_of(dataset).resolve_base(dataset, config.base).image_size


def build_network(size: int, n_classes: int, config: ScratchConfig, seed: int):
    """The network: [augmentation] -> scale to [-1, 1] -> stem -> conv blocks -> pooling -> logits."""
    layers = keras.layers
    images = keras.Input((size, size, 3), name="image")
    x = finetune_augmentation(seed)(images) if config.augment else images
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(x)
    for index, width in enumerate(config.widths):
        x = layers.Conv2D(width, 3, strides=2 if index == 0 else 1, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.ReLU()(x)
        if index:
            x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    return keras.Model(images, layers.Dense(n_classes, name="logits")(x), name="scratch_cnn")


def describe(size: int, config: ScratchConfig) -> str:
    return f"small CNN from random initialisation ({len(config.widths)} conv blocks, {size} px)"


class ImageScratch:
    """The no-transfer model of images (`tlcore.benefit.scratch.SCRATCH["image"]`)."""

    def seconds_needed(self, dataset, config: BenefitConfig, items: int) -> float:
        """The least time one fit on `items` training images needs: `min_epochs` passes, plus validation."""
        pixels = (image_size(dataset, config) / REFERENCE_SIDE) ** 2
        passes = config.scratch.min_epochs * (items + len(dataset.labels("val")) / 3)
        return FIT_OVERHEAD_SECONDS + passes * STEP_SECONDS_128 * pixels

    def least_words(self, config: BenefitConfig) -> str:
        return f"at least {config.scratch.min_epochs} epochs"

    def prepare_seconds(self, dataset, config: BenefitConfig) -> float:
        return len(dataset) * DECODE_SECONDS

    def prepare(self, dataset, config: BenefitConfig, progress: ProgressCallback | None = None) -> Loaded:
        size = image_size(dataset, config)
        images = {s: load_images(dataset.files(s), size, progress) for s in ("train", "val", "test")}
        labels = {s: dataset.labels(s) for s in ("train", "val", "test")}
        return Loaded(size, images, labels, len(dataset.classes))

    def fit(self, loaded: Loaded, rows: np.ndarray, deadline: float, config: BenefitConfig,
            progress: ProgressCallback | None = None) -> Fitted:
        """Train a fresh network on the training images at `rows` until early stopping or `deadline`."""
        start = time.perf_counter()
        settings = config.scratch
        keras.utils.set_random_seed(config.seed)
        model = build_network(loaded.size, loaded.n_classes, settings, config.seed)
        model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate),
                      loss=keras.losses.CategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        x, y = loaded.images["train"][rows], loaded.labels["train"][rows]
        onehot = keras.utils.to_categorical(y, loaded.n_classes)
        val = (loaded.images["val"], keras.utils.to_categorical(loaded.labels["val"], loaded.n_classes))
        keep = KeepFromFirstEpoch(val)
        early = keras.callbacks.EarlyStopping("val_loss", patience=settings.patience)
        passes = len(loaded.labels["test"]) / max(len(loaded.labels["val"]), 1)  # answering test after training
        history = model.fit(
            x, onehot, batch_size=settings.batch_size, epochs=settings.epochs, validation_data=val, verbose=0,
            class_weight=class_weights(y, loaded.n_classes),
            callbacks=[keep, early, Deadline(deadline, passes), EpochProgress(progress, settings.epochs)],
        )  # fmt: skip
        logits = model.predict(loaded.images["test"], verbose=0, batch_size=64)
        epochs = len(history.history.get("loss", []))
        stopped = "early stopping" if early.stopped_epoch else "deadline" if epochs < settings.epochs else "epochs"
        return Fitted(
            predictions=np.argmax(logits, axis=1),
            seconds=time.perf_counter() - start,
            model=describe(loaded.size, settings),
            params={"epochs_run": epochs, "best_epoch": keep.best_epoch, "parameters": int(model.count_params()),
                    "stopped": stopped},
        )


class KeepFromFirstEpoch(KeepBest):
    """The weights with the lowest validation loss among the epochs trained: unlike a head on good features, a
    network from random initialisation is no model before its first epoch, however low its first loss reads."""

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)  # times one pass over validation, for the deadline
        self.best_loss = np.inf


class EpochProgress(keras.callbacks.Callback):
    """Progress after every batch (so a cancelled job is seen within a batch) and every epoch, with its losses."""

    def __init__(self, progress: ProgressCallback | None, epochs: int) -> None:
        super().__init__()
        self.progress, self.epochs, self.epoch = progress, epochs, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        report(self.progress, "no transfer", self.epoch, self.epochs,
               f"no transfer: epoch {self.epoch + 1}, batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        text = f"no transfer: epoch {epoch + 1}, validation loss {logs.get('val_loss', float('nan')):.3f}"
        report(self.progress, "no transfer", epoch + 1, self.epochs, text,
               {k: float(v) for k, v in logs.items() if k in ("loss", "val_loss", "val_accuracy")})


SCRATCH = ImageScratch()
