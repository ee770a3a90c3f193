"""Training settings: frozen dataclasses with defaults that work on a 2-core CPU."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import SettingError

STRATEGY_NAMES = ("predict", "extract", "finetune")


@dataclass(frozen=True)
class HeadSpace:
    """The head's hyperparameters: a value given here is used as is, None means "search it"."""

    layers: int | None = None  # hidden Dense layers before the classifier: 0, 1 or 2
    units: int | None = None
    dropout: float | None = None
    l2: float | None = None
    learning_rate: float | None = None
    label_smoothing: float | None = None


@dataclass(frozen=True)
class SearchConfig:
    """The Keras Tuner search over heads on cached features."""

    max_trials: int = 12
    max_epochs: int = 80
    patience: int = 6
    # trials in a row that do not beat the best by one standard error of the inner split before the search stops
    # (0: never; TrainConfig.stop_early=False turns it off too)
    stale_trials: int = 4
    # the search's share of time, in what head searches take on this machine (`tlcore.costs.search_trials`): it
    # ends at that many times their usual length, so the time the advice said holds (None: no share of its own;
    # TrainConfig.stop_early=False turns it off too: every trial runs, within the budget)
    share: float | None = 1.4
    batch_size: int = 32
    space: HeadSpace = field(default_factory=HeadSpace)
    # "host:port" to serve the search to `python -m tlcore search-worker` processes (this one is the chief)
    chief_address: str | None = None
    worker_grace_seconds: float = 120.0  # how long after the deadline the chief waits for a late worker

@dataclass(frozen=True)
class FinetuneConfig:
    """Stage 2 of fine-tuning: the top of the base unfrozen at a low learning rate."""

    # None: the base's own default (EfficientNet-Lite0: top 12 of 16 blocks at 2e-4; MiniLM: top 3 of 6
    # transformer layers at 5e-5), from the measurements in the README.
    unfreeze_blocks: int | None = None
    learning_rate: float | None = None
    epochs: int = 15
    batch_size: int = 32
    patience: int = 3
    augment: bool = True


@dataclass(frozen=True)
class TrainConfig:
    strategies: tuple[str, ...] = ("predict", "extract")
    backbone: str | None = None  # None: the default base of the data's kind (image or text)
    image_size: int | None = None  # None: chosen from the images' own size, see `tlcore.image.bases.auto_image_size`
    budget_seconds: float = 600.0
    seed: int = 0
    baselines: tuple[str, ...] = ("ridge", "logistic_regression", "rbf_svm", "linear_svm", "knn", "extra_trees")
    search: SearchConfig = field(default_factory=SearchConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    distribution: str = "default"  # tf.distribute strategy for extraction and fine-tuning (tlcore.devices)
    class_descriptions: dict[str, str] = field(default_factory=dict)  # text: what each class means, for zero-shot
    stop_early: bool = True  # skip later stages once validation cannot tell a better model (tlcore.train.anytime)

    @classmethod
    def from_analysis(cls, analysis, **overrides) -> TrainConfig:
        """The analysis's recommended strategy and settings (base, image size, what fine-tuning unfreezes
        and its learning rate: the advice's, else those its expected times were for); `overrides` (any field, None
        ignored) on top.

        `analysis` is an `Analysis` or its `to_dict()` (what the app and `analyze` store).
        """
        found = analysis.to_dict() if hasattr(analysis, "to_dict") else analysis
        advice = found["recommendation"]
        settings = advice.get("settings", {})
        # fine-tuning as the analysis timed and estimated it, also where another way was advised (a run of "all")
        tuned = settings if "unfreeze_blocks" in settings else advice.get("finetune_settings") or {}
        config = cls(strategies=(advice["strategy"],), backbone=found["backbone"], image_size=found.get("image_size"),
                     finetune=FinetuneConfig(unfreeze_blocks=tuned.get("unfreeze_blocks"),
                                             learning_rate=tuned.get("learning_rate")))
        return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """The config `dataclasses.asdict` wrote (a run's request.json), to resume a run as it was asked."""
        try:
            search = dict(values["search"]) | {"space": HeadSpace(**values["search"]["space"])}
            return cls(**dict(values) | {
                "strategies": tuple(values["strategies"]), "baselines": tuple(values["baselines"]),
                "search": SearchConfig(**search), "finetune": FinetuneConfig(**values["finetune"]),
            })  # fmt: skip
        except (KeyError, TypeError) as error:
            raise SettingError(f"the stored settings could not be read back ({type(error).__name__}: {error}); "
                               "start a new run instead") from None
