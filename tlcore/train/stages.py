"""The stages every fine-tuning recipe shares, whatever the kind of data.

Stage 1 trains a head on the cached features (the search's best head when the run has one);
stage 2 (in `tlcore.image.finetune` and `tlcore.text.finetune`) unfreezes the top of a fresh
base under these callbacks: keep the weights with the lowest validation loss (so fine-tuning
that only hurts is undone), stop at the deadline, report each epoch; plus balanced class weights
and the optimiser both recipes use.
"""

from __future__ import annotations

import time

import keras
import keras_tuner as kt
import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from ..progress import report
from ..words import percent
from .candidate import Context
from .tuner import HeadHyperModel

IMBALANCE_FOR_WEIGHTS = 1.5


def preparing(ctx: Context, what: str) -> None:
    """A step before fine-tuning's first batch, reported so that a cancel (the progress callback checks it) acts
    between steps: between reading the images and the first batch (the head, a fresh base, compiling, tracing),
    nothing was reported for 13 s, and a cancel pressed then waited for all of it."""
    report(ctx.progress, "finetune", 0, ctx.config.finetune.epochs, f"preparing {what}")


def stage_one_head(ctx: Context) -> keras.Model:
    """The search's best head (a copy), or the default head trained now on the cached features."""
    preparing(ctx, "the head on the frozen features")
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
    """Stop training after the batch during which the deadline passed; with `passes`, early enough to leave that
    many passes over the validation split's size for what follows training (the tuned model's answers and the
    features its head reads, on every split), timed on the last validation pass `fit` made (the first includes
    tracing, so the latest is kept; before the first, `val_seconds` estimates it: `validation_seconds`)."""

    def __init__(self, deadline: float, passes: float = 0.0, val_seconds: float = 0.0) -> None:
        super().__init__()
        self.deadline, self.passes = deadline, passes
        self.val_seconds, self._began = val_seconds, 0.0  # until fit's first validation: the caller's estimate

    def on_test_begin(self, logs=None):
        self._began = time.monotonic()

    def on_test_end(self, logs=None):
        self.val_seconds = time.monotonic() - self._began

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() >= self.deadline - self.passes * self.val_seconds:
            self.model.stop_training = True


def validation_seconds(ctx: Context) -> float:
    """One pass over the validation split through the base, by the forward rate this machine recorded for it
    (`tlcore.costs`; 0 when it has none): fine-tuning's reserve before its first epoch has measured one."""
    from .. import costs

    rate = costs.measured(ctx.config.backbone, ctx.config.image_size, "forward") or 0.0
    return rate * len(ctx.labels["val"])


def passes_after_training(counts: dict[str, int]) -> float:
    """Passes over the validation split's size that fine-tuning makes after training: the features its head reads,
    on every split (`read_every_split`)."""
    return sum(counts.values()) / max(counts.get("val", 0), 1)


ANSWERS = "answers"  # the progress step of a tuned model reading every item after training


class ItemsRead(keras.callbacks.Callback):
    """Progress while a tuned model reads every item after training (`ANSWERS`, counted in items over all the
    splits from `done`), so a cancel acts within a batch there too: walk 6 saw "fine-tuning, 15 of 15 epochs done"
    stand for 15 s while the model read its items."""

    def __init__(self, ctx: Context, done: int, rows: int, total: int, batch_size: int) -> None:
        super().__init__()
        self.ctx, self.done, self.rows, self.total, self.batch_size = ctx, done, rows, total, batch_size

    def on_predict_batch_end(self, batch, logs=None):
        read = self.done + min((batch + 1) * self.batch_size, self.rows)
        report(self.ctx.progress, ANSWERS, read, self.total, "reading every item through the tuned model")


def read_every_split(ctx: Context, rows: dict[str, int], read) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Every split through a tuned model's feature model after training, with progress in items over all of them
    (`ItemsRead`); `read(split, callback)` reads one split. Validation comes last, traced by then: its seconds are a
    reading's pace, the latency a user will see (`answers_and_latency`). Returns the features and each split's
    seconds."""
    features, seconds, total = {}, {}, sum(rows.values())
    for split in ("train", "test", "val"):
        started = time.perf_counter()
        features[split] = read(split, ItemsRead(ctx, sum(map(len, features.values())), rows[split], total, 64))
        seconds[split] = time.perf_counter() - started
    return features, seconds


def answers_and_latency(head: keras.Model, features: dict[str, np.ndarray], seconds: dict[str, float]
                        ) -> tuple[dict[str, np.ndarray], float]:
    """A fine-tuned model's logits on validation and test, from the features its head reads (the model is the head
    on them, so the base runs once over each item after training; it ran over validation and test twice, each
    model traced once: 5.9 s of a digits run for 2.4 s of passes, 2026-12-05), and its milliseconds per item:
    validation's reading (`read_every_split`'s `seconds`) and the head on it. The images had timed 64 items
    through the model again for it."""
    started = time.perf_counter()
    val = np.asarray(head(features["val"], training=False), dtype=np.float64)
    latency = 1000 * (seconds["val"] + time.perf_counter() - started) / max(len(features["val"]), 1)
    return {"val": val, "test": np.asarray(head(features["test"], training=False), dtype=np.float64)}, latency


class EpochReport(keras.callbacks.Callback):
    """Progress after every batch (so the bar moves and a cancel is seen within a batch) and every epoch."""

    def __init__(self, ctx: Context, epochs: int) -> None:
        super().__init__()
        self.ctx, self.epochs, self.epoch = ctx, epochs, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        steps = self.params.get("steps") if self.params else None
        where = f"epoch {self.epoch + 1} of at most {self.epochs}, batch {batch + 1}"
        report(self.ctx.progress, "finetune", self.epoch, self.epochs, where + (f" of {steps}" if steps else ""))

    def on_epoch_end(self, epoch, logs=None):
        shown = ("loss", "accuracy", "val_loss", "val_accuracy")
        metrics = {k: float(v) for k, v in (logs or {}).items() if k in shown}
        # in words on the page and the command line (walk 6 read "val_accuracy 0.975, val_loss 0.657"); a chart has all
        right = [f"{percent(metrics[key])} right on {split}" for key, split in (("val_accuracy", "validation"),
                                                                                   ("accuracy", "training"))
                 if key in metrics]
        text = f"epoch {epoch + 1} of at most {self.epochs} done" + (f": {', '.join(right)}" if right else "")
        report(self.ctx.progress, "finetune", epoch + 1, self.epochs, text, metrics)


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


STEPS_TIMED = 2  # training steps timed after the one that traces (`time_training_step`)


def time_training_step(model: keras.Model, x, target: np.ndarray) -> tuple[float, float]:
    """(seconds per item of one training step, seconds its tracing took beyond a step) on one batch, for the
    analysis's expected times (`tlcore.costs`): every fine-tuning run traces its model once, then steps."""
    items = len(target)
    start = time.perf_counter()
    model.train_on_batch(x, target)  # traces the step
    traced = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(STEPS_TIMED):
        model.train_on_batch(x, target)
    step = (time.perf_counter() - start) / (STEPS_TIMED * items)
    return step, max(traced - step * items, 0.0)
