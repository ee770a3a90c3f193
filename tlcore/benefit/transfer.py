"""The transferred model retrained on a fraction of the training split: one way per strategy, in a registry.

- "extract": a scikit-learn head (default a logistic regression, its strength by cross-validation on the fraction's
  training items) on the frozen base's features. The features are computed (or read from the cache) once by
  `prepare`, and every fraction fits on rows of the same array: the base never runs again.
- "finetune": the dataset's own fine-tuning strategy (`Modality.strategies()["finetune"]`) run on a copy of the
  dataset whose training split is the fraction, with its stage-1 head on the same cached features. Fine-tuning
  retrains the base, so this way costs as much again as the no-transfer network at each fraction.

A new way is one class with `prepare`, `fit`, `seconds_needed` and `weight`, and one entry in `WAYS`.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UnknownNameError
from ..folds import folds
from ..modality import modality_of
from ..progress import ProgressCallback, report
from .config import BenefitConfig, Fitted

SPLITS = ("train", "val", "test")
# Seconds per training item of the frozen-feature head's whole cross-validated fit (logistic regression's grid on
# eurosat200's 1,400 training features: about 5 s a fit here, 10 fits), and rough figures for one fine-tuning epoch
# per kind of data (Lite0 at 224 px; MiniLM), for the budget check's floor.
EXTRACT_SECONDS_PER_ITEM = 0.03
FINETUNE_EPOCH_SECONDS = {"image": 0.08, "text": 0.03}
FINETUNE_REFERENCE_SIDE = 224


@dataclass(frozen=True, eq=False)
class FrozenFeatures:
    """The frozen base's features of every split, computed once for the whole curve."""

    base: str  # the base in words: "efficientnet_lite0 at 128 px"
    features: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]


class ExtractWay:
    """A head on the cached features of the frozen base, refitted per fraction."""

    weight = 0.0  # fits in seconds: no share of the training time

    def seconds_needed(self, dataset, config: BenefitConfig, items: int) -> float:
        return items * EXTRACT_SECONDS_PER_ITEM

    def prepare(self, dataset, config: BenefitConfig, progress: ProgressCallback | None = None) -> FrozenFeatures:
        """The base's features of every item, once (read from the cache when a run or analysis computed them)."""
        modality = modality_of(dataset)
        choice = modality.resolve_base(dataset, config.base, config.image_size)
        found = modality.features(dataset, choice, progress)
        split = dataset.records["split"].to_numpy(dtype=object)
        return FrozenFeatures(choice.describe(), {s: found.features[split == s] for s in SPLITS},
                              {s: dataset.labels(s) for s in SPLITS})

    def fit(self, prepared: FrozenFeatures, rows: np.ndarray, deadline: float, config: BenefitConfig,
            progress: ProgressCallback | None = None) -> Fitted:
        from sklearn.exceptions import ConvergenceWarning
        from threadpoolctl import threadpool_limits

        from ..train.baselines import get_baseline, search_grid

        start = time.perf_counter()
        baseline = get_baseline(config.model)
        x, y = prepared.features["train"][rows], prepared.labels["train"][rows]
        # One BLAS thread: in a process where TensorFlow has run, more threads made these small fits crawl
        # (mnist100: 20 s for a grid on 85 items) while the network's threads held both cores.
        with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)  # "least populated class has only N members"
            search = search_grid(baseline, x, y, folds(y, 3, config.seed), int(prepared.labels["train"].max()) + 1,
                                 config.seed)  # the run's own grid search: the same choice as the run's baseline
        return Fitted(
            predictions=search.estimator.predict(prepared.features["test"]),
            seconds=time.perf_counter() - start,
            model=f"{baseline.name.replace('_', ' ')} on the features of {prepared.base}",
            params={k.split("__")[-1]: v for k, v in search.params.items()},
        )


@dataclass(frozen=True, eq=False)
class ForFinetuning:
    dataset: object
    prepared: object  # the modality's `Prepared`: the run's config, the loaded base, the features


class FinetuneWay:
    """The modality's fine-tuning strategy, retrained per fraction on a copy of the dataset."""

    weight = 1.0  # as much training time as the no-transfer network at the same fraction

    def seconds_needed(self, dataset, config: BenefitConfig, items: int) -> float:
        """One epoch of fine-tuning (the least worth reporting); images scale with the pixels."""
        size = config.image_size or modality_of(dataset).resolve_base(dataset, config.base).image_size
        pixels = (size / FINETUNE_REFERENCE_SIDE) ** 2 if size else 1.0
        return items * FINETUNE_EPOCH_SECONDS.get(dataset.modality, 0.1) * pixels

    def prepare(self, dataset, config: BenefitConfig, progress: ProgressCallback | None = None) -> ForFinetuning:
        from ..train.config import TrainConfig

        train_config = TrainConfig(strategies=("finetune",), backbone=config.base, image_size=config.image_size,
                                   seed=config.seed, finetune=config.finetune)
        return ForFinetuning(dataset, modality_of(dataset).prepare(dataset, train_config, progress))

    def fit(self, ready: ForFinetuning, rows: np.ndarray, deadline: float, config: BenefitConfig,
            progress: ProgressCallback | None = None) -> Fitted:
        from ..train.candidate import Context
        from ..train.evaluate import accuracy

        start = time.perf_counter()
        dataset, prepared = ready.dataset, ready.prepared
        records = dataset.records
        train = records.index[records["split"] == "train"][rows]
        kept = records[(records["split"] != "train") | records.index.isin(train)]
        part = dataclasses.replace(dataset, records=kept)
        split = records["split"].to_numpy(dtype=object)
        features = {s: prepared.features.rows(split == s) for s in SPLITS}
        features["train"] = features["train"].rows(np.isin(np.arange(len(features["train"])), rows))
        labels = {s: part.labels(s) for s in SPLITS}
        runner, _ = modality_of(dataset).strategies()["finetune"]
        report(progress, "transfer", 0, 1, f"fine-tuning on {len(rows)} training items")
        with tempfile.TemporaryDirectory(prefix="benefit-") as folder:
            ctx = Context(part, prepared.config, prepared.base, features, labels, Path(folder), deadline,
                          prepared.latency_ms, prepared.size_bytes, progress)
            candidates = runner(ctx)
        best = max(candidates, key=lambda c: accuracy(c.val_logits, labels["val"]))
        return Fitted(
            predictions=np.argmax(best.test_logits, axis=1),
            seconds=time.perf_counter() - start,
            model=f"{best.name} of {prepared.config.backbone}",
            params={k: v for k, v in best.params.items() if k != "history"},
        )


WAYS = {"extract": ExtractWay(), "finetune": FinetuneWay()}


def get_way(name: str):
    try:
        return WAYS[name]
    except KeyError:
        raise UnknownNameError("way to retrain the transferred model", name, list(WAYS)) from None
