"""Settings of the comparison with no transfer, what one fit hands back, and the budget's refusal."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SettingError
from ..train.config import FinetuneConfig

FRACTIONS = (0.1, 0.25, 0.5, 1.0)


class BudgetError(SettingError):
    """A time budget too small for the comparison; the message says the time it needs."""


@dataclass(frozen=True)
class ScratchConfig:
    """The no-transfer image network: a few conv blocks from random initialisation, stopped early on validation."""

    widths: tuple[int, ...] = (32, 64, 128, 192)  # a stride-2 stem, then a conv block (and a halving) per width
    epochs: int = 200  # an upper bound: early stopping or the deadline ends training first
    patience: int = 10  # epochs without a lower validation loss before stopping
    batch_size: int = 32
    learning_rate: float = 2e-3
    augment: bool = True  # the same light augmentation as fine-tuning
    min_epochs: int = 3  # the least training worth reporting: the budget check asks time for this many epochs
    # texts: the inverse regularisation strengths tried by cross-validation on the training split
    text_c: tuple[float, ...] = (1.0, 10.0, 100.0)


@dataclass(frozen=True)
class BenefitConfig:
    """What the comparison measures and in how much time.

    `budget_seconds` is the whole comparison's wall time (the no-transfer fits at every fraction, the transferred
    model's fits, loading the data); `way` is how the transferred model is retrained at each fraction
    (`tlcore.benefit.transfer.WAYS`), `model` the scikit-learn head of the frozen-feature way.
    """

    budget_seconds: float = 300.0
    fractions: tuple[float, ...] = FRACTIONS
    way: str = "extract"
    model: str = "logistic_regression"  # a name of `tlcore.train.baselines.BASELINES`
    base: str | None = None  # None: the default base of the data's kind
    image_size: int | None = None  # None: the size a run would choose (`Modality.resolve_base`)
    seed: int = 0
    scratch: ScratchConfig = field(default_factory=ScratchConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)  # the way "finetune": the run's settings

    @classmethod
    def for_run(cls, config, strategy: str, budget_seconds: float, **overrides) -> BenefitConfig:
        """The comparison for a finished run: its base, image size, seed and fine-tuning settings, and the way
        its selected model was made (`strategy`; "predict" trains nothing, so its curve is the frozen-feature
        way's). `config` is the run's `TrainConfig`."""
        way = WAY_OF_STRATEGY.get(strategy, strategy)
        return cls(budget_seconds=budget_seconds, way=way, base=config.backbone, image_size=config.image_size,
                    seed=config.seed, finetune=config.finetune, **overrides)


# the run's strategy -> the way the curve retrains it
WAY_OF_STRATEGY = {"predict": "extract", "extract": "extract", "finetune": "finetune"}


@dataclass(frozen=True, eq=False)
class Fitted:
    """One model trained on some of the training split and tested once: its answers on every test item."""

    predictions: np.ndarray  # class index per test item, in the dataset's test order
    seconds: float
    model: str  # in words: "small CNN from random initialisation (4 conv blocks, 128 px)"
    params: dict = field(default_factory=dict)
