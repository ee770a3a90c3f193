"""What every strategy hands back: a trained model with its logits on validation and test."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..features import Features
from ..folds import group_ids
from ..progress import ProgressCallback
from .config import TrainConfig


@dataclass(eq=False)
class Candidate:
    """One trained model. Logits cover the validation and test images in dataset order."""

    strategy: str
    name: str
    val_logits: np.ndarray
    test_logits: np.ndarray
    train_seconds: float
    size_bytes: int
    latency_ms: float
    params: dict = field(default_factory=dict)
    model: object = None  # a Keras model, a scikit-learn estimator or a label map, for saving and export
    complexity: int = 0  # how much the model fitted: 0 nothing (a name map) ... 10 (a fine-tuned base)
    temperature_scaling: bool = True  # False where the exported model cannot apply a temperature
    oof_logits: np.ndarray | None = None  # out-of-fold logits of the training split, where cross-validation made them
    # Fine-tuned models only: (inputs -> the features its head reads, the head), and those features per split,
    # since fine-tuning changed them from the frozen base's.
    parts: tuple | None = None
    own_features: dict[str, np.ndarray] | None = None
    unknown: object = None  # its `tlcore.unknown.UnknownDetector`, fitted when it is chosen (`train._finish`)


@dataclass(eq=False)
class Context:
    """Everything a strategy needs, computed once per run."""

    dataset: object  # a Dataset of the run's kind of data (images: tlcore.data.Dataset; texts: TextDataset)
    config: TrainConfig  # with the base resolved (name, image size)
    base: object  # the loaded frozen base, shared: an image Backbone or a TextEncoder
    features: dict[str, Features]  # "train", "val", "test"
    labels: dict[str, np.ndarray]
    run_dir: Path
    deadline: float  # time.monotonic() by which this strategy must be done
    base_latency_ms: float
    base_size_bytes: int
    progress: ProgressCallback | None = None
    shared: dict = field(default_factory=dict)  # results one strategy leaves for a later one
    best: object = None  # the run's `anytime.BestSoFar`: every new model is offered to it

    @property
    def n_classes(self) -> int:
        return len(self.dataset.classes)

    def groups(self, split: str) -> np.ndarray | None:
        """The group of each item of `split` as integers for `tlcore.folds`, or None when the data has none."""
        return group_ids(self.dataset.groups(split))

    def offer(self, candidate: Candidate) -> None:
        """A model that exists now: the run may keep it as its best so far (`tlcore.train.anytime`)."""
        if self.best is not None:
            self.best.offer(candidate)

    def stale(self, count: int, stage: str) -> bool:
        """Whether the last `count` models all failed to become the best so far, so `stage` is skipped; recorded."""
        return bool(self.config.stop_early and self.best is not None
                    and self.best.stale(count, stage, self.seconds_left()))

    def stop_before(self, stage: str) -> bool:
        """Whether `stage` cannot pay any more (the best so far is at what validation can resolve); recorded."""
        return bool(self.config.stop_early and self.best is not None
                    and self.best.should_stop(stage, self.seconds_left()))

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()


@dataclass(frozen=True, eq=False)
class Prepared:
    """What a run computes once from the data and the base before any strategy starts (`Modality.prepare`)."""

    config: TrainConfig  # the request with the base resolved
    base: object  # the loaded frozen base
    features: Features  # of every record, in dataset order
    latency_ms: float  # one input through the frozen base
    size_bytes: int  # the frozen base's weights


Strategy = Callable[[Context], list[Candidate]]


def per_sample_ms(predict: Callable[[np.ndarray], object], x: np.ndarray) -> float:
    """Milliseconds per sample of `predict` on a batch of up to 64 rows of `x`."""
    batch = x[:64]
    start = time.perf_counter()
    predict(batch)
    return 1000 * (time.perf_counter() - start) / max(len(batch), 1)
