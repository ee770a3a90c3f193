"""A kind of data (images, texts) as one plug-in that the engine asks, instead of a branch in every module.

The shared flow (import, analyse, train, select, export, predict) is the same for every kind of
data; what differs is answered by the dataset's `Modality`: how its data is imported, which
pretrained bases it has and which is the default, how the base is resolved (name, image size)
once for both analysis and training, how features are computed, how its domain gap reads, which
strategies it trains, how it audits a dataset and how it builds the model a bundle carries.

A new kind of data (audio, tables) is one package with a `modality.py` that subclasses
`Modality`, plus one line in `REGISTRY`. Modalities are imported when first asked for, so the
text stack (keras-hub) loads only for texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UnknownNameError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from .features import Features
    from .gain import GainModel
    from .progress import ProgressCallback
    from .strategy import GapReading
    from .train.candidate import Candidate, Prepared
    from .train.config import TrainConfig
    from .transferability import Transferability

# name -> the module whose MODALITY it is; the first modality whose `claims` accepts a source imports it,
# else DEFAULT_MODALITY does.
REGISTRY: dict[str, str] = {"text": "tlcore.text.modality", "image": "tlcore.image.modality"}
DEFAULT_MODALITY = "image"


@dataclass(frozen=True)
class BaseChoice:
    """The pretrained base a dataset is measured and trained with, resolved once and carried from then on."""

    name: str
    image_size: int | None = None  # images only: the side inputs are resized to on their way into the base

    def describe(self) -> str:
        return self.name + (f" at {self.image_size} px" if self.image_size else "")


@dataclass(frozen=True)
class BaseRanking:
    """The installed bases of a dataset's kind measured on its own training and validation items, best first.

    Each row: base, title, rank, recommended, probe_accuracy (5-fold linear probe), logme,
    seconds_per_item (the frozen forward pass on this machine), points_vs_default, time_vs_default, and the
    kind's own facts (images: image_size, imagenet_top1). `items` of `of_items` were measured (a cap keeps
    the analysis quick on large datasets). Plain values only, so it goes to analysis.json and back as is.
    """

    rows: tuple[dict, ...]
    recommended: str
    sentence: str  # the recommended base against the default, in plain words
    items: int
    of_items: int

    def to_dict(self) -> dict:
        return {"rows": [dict(row) for row in self.rows], "recommended": self.recommended, "sentence": self.sentence,
                "items": self.items, "of_items": self.of_items}

    @classmethod
    def from_dict(cls, values: dict) -> BaseRanking:
        return cls(tuple(dict(row) for row in values["rows"]), values["recommended"], values["sentence"],
                   int(values["items"]), int(values["of_items"]))


@dataclass(frozen=True, eq=False)
class Measurements:
    """What a modality measures on the training and validation data for the shared recommendation."""

    size: dict  # counts: items, classes, per class, splits (plus the kind's own, e.g. median image side)
    domain_gap: Any  # the kind's own gap measures, with to_dict()
    transferability: Transferability
    reading: GapReading  # the gap read for the rule: far or near, in words, with fine-tuning settings
    as_is_accuracy: float  # the best of the ways to use the base with no training
    features: np.ndarray  # of every record, in dataset order (what label issues are found on)
    label_overlap: Any = None  # images: the class names against ImageNet's


@dataclass(frozen=True, eq=False)
class BundleGraph:
    """A bundle's model before its outputs: the raw inputs, the class scores and the features the head reads.

    The engine (`tlcore.export.bundle_model`) adds the temperature and softmax to `logits` (or takes
    `probabilities` as they are, for a label map over the base's own classes) and the unknown score on
    `features`.
    """

    inputs: Any  # Keras inputs: one image tensor, or a dict of token ids and padding mask
    features: Any  # the features the head reads (what "none of my classes" is measured on)
    logits: Any = None
    probabilities: Any = None
    name: str = "transferlab"


@dataclass(frozen=True, eq=False)
class Explanation:
    """Why a model gave a class: a picture with a heatmap laid over it (images), or each word's weight (texts)."""

    class_index: int
    method: str  # in words, for the page: "Grad-CAM: ...", "leaving each word out: ..."
    picture: np.ndarray | None = None  # uint8 RGB, the input's size
    words: list[tuple[str, float]] | None = None


class Modality:
    """One kind of data; subclasses answer every question below (see `tlcore.image.modality`)."""

    name: str  # "image"
    noun: str  # "images": what the user's items are called in messages
    input_name: str  # "IMAGE": the CLI's placeholder for one input to `predict`
    domain: str  # what the pretrained base knows: "ImageNet", "general English"
    default_base: str
    unfreeze_word: str  # what fine-tuning unfreezes: "blocks", "transformer layers"
    item_column: str = "path"  # the records' column that names an item to the user (audit, label issues)
    describes_classes: bool = False  # whether words about each class help (zero-shot "predict" for texts)
    makes_tflite: bool = False  # whether `write_tflite` can convert this kind's bundle model (images)
    gap_words: dict[str, tuple[str, str]] = {}  # noqa: RUF012 (read-only) domain-gap measure -> (title, meaning)

    # -- data
    def claims(self, source: Path, options: dict) -> bool:
        """Whether `source` (with the user's import options) holds this kind of data."""
        raise NotImplementedError

    def import_data(self, source: Path, workspace: Path, *, name, limits, split, progress, options: dict):
        raise NotImplementedError

    def load_dataset(self, folder: Path):
        """The dataset stored in `folder` by `import_data`."""
        raise NotImplementedError

    def audit(self, dataset, features: np.ndarray | None = None):
        raise NotImplementedError

    # -- bases and features
    def bases(self) -> dict:
        """name -> spec of every base of this kind."""
        raise NotImplementedError

    def resolve_base(self, dataset, name: str | None = None, image_size: int | None = None) -> BaseChoice:
        """The base to use: the given name or the default, and its input size for this dataset."""
        raise NotImplementedError

    def rank_bases(self, dataset, choice: BaseChoice, features: np.ndarray, *, seed: int,
                   progress: ProgressCallback | None) -> BaseRanking | None:
        """The installed bases of this kind measured on `dataset`, best first; None when there is nothing to
        choose between (one base). `features`: every record's, already computed with `choice`."""
        return None

    def finetune_gain(self, choice: BaseChoice) -> GainModel | None:
        """Fine-tuning's expected gain, calibrated for this base (`tlcore.gain`); None: the threshold rule decides."""
        return None

    def finetune_defaults(self, choice: BaseChoice) -> tuple[int, int, float]:
        """(how many to unfreeze, how many there are, learning rate) when nothing else is known."""
        raise NotImplementedError

    def timing_tag(self, dataset) -> str:
        """What, beside the base and its input size, the timings of `time_step` depend on for `dataset` ("" when
        nothing: images come at the base's size); kept apart in `tlcore.costs` under this tag."""
        return ""

    def time_step(self, dataset, choice: BaseChoice, blocks: int) -> tuple[float, float, float, float]:
        """Seconds per item on this machine of (the frozen base's forward pass, a fine-tuning step with `blocks`
        unfrozen, reading an item), timed on a batch of the dataset's training items (`tlcore.costs`), and the
        seconds the step's tracing took beyond a step."""
        raise NotImplementedError

    def measure(self, dataset, choice: BaseChoice, *, seed: int, descriptions: dict | None,
                progress: ProgressCallback | None) -> Measurements:
        raise NotImplementedError

    def load_base(self, choice: BaseChoice):
        """The frozen base, shared in this process: never change its `trainable` flags."""
        raise NotImplementedError

    def features(self, dataset, choice: BaseChoice, progress=None) -> Features:
        raise NotImplementedError

    def gap_summary(self, analysis: dict) -> list[tuple[str, str, str]]:
        """The domain gap's headline numbers for a page: (label, value, what it means)."""
        raise NotImplementedError

    def gap_chart(self, gap: dict) -> dict | None:
        """One chart of the gap: {"kind": "line" | "bar", "rows", "x", "y", "title"}, or None."""
        return None

    # -- training
    def prepare(self, dataset, config: TrainConfig, progress) -> Prepared:
        """The run's base and features, computed once before any strategy starts."""
        raise NotImplementedError

    def strategies(self, base: str | None = None) -> dict:
        """strategy name -> (runner, weight: its share of the budget relative to the others requested); with `base`,
        only the ways that base supports (one outside Keras cannot be fine-tuned)."""
        raise NotImplementedError

    # -- bundles
    def bundle_graph(self, candidate: Candidate, base, n_classes: int) -> BundleGraph:
        """The Keras graph from raw inputs to the candidate's class scores and the features its head reads."""
        raise NotImplementedError

    def write_bundle_extras(self, model, result, folder: Path, *, tflite: bool) -> dict:
        """Files beside model.keras (tokenizer, TFLite models); returns what the manifest says of them."""
        raise NotImplementedError

    def write_tflite(self, model, folder: Path, test_items: list, progress=None) -> dict:
        """TFLite copies of a bundle's model in `folder`, checked on the run's `test_items`; the manifest's keys."""
        from .errors import SettingError

        raise SettingError(f"TFLite copies are made of image bundles; a {self.name} bundle's model reads the "
                           "tokenizer's ids, which a TFLite copy could not take: use model.keras")

    def predict_script(self) -> str:
        raise NotImplementedError

    def card_use(self, manifest: dict) -> tuple[list[str], str]:
        """The model card's "Use" lines, and what the model reads ("at 224 px")."""
        raise NotImplementedError

    def open_bundle(self, folder: Path, manifest: dict, model):
        """What a bundle of this kind needs beside its model (the text tokenizer, the traced image model)."""
        return None

    def check_inputs(self, inputs: Sequence[str]) -> list:
        """The inputs to `predict` as this kind reads them (files that exist, texts), or a clear error."""
        raise NotImplementedError

    def explain(self, bundle, item, class_index: int | None = None) -> Explanation:
        """Where a bundle's model looks for `class_index` (default its answer) in one input, as the user gave it."""
        raise NotImplementedError

    def bundle_outputs(self, bundle, item):
        """One input through a bundle's own model: its outputs as the model gives them, for a batch of one
        (probabilities, or [probabilities, unknown score]; see `tlcore.predict.split_outputs`)."""
        raise NotImplementedError


@cache
def get_modality(name: str) -> Modality:
    """The modality registered under `name` (imported on first use)."""
    if name not in REGISTRY:
        raise UnknownNameError("kind of data", name, list(REGISTRY))
    return import_module(REGISTRY[name]).MODALITY


def modality_of(dataset) -> Modality:
    return get_modality(dataset.modality)


def detect(source: Path, options: dict) -> Modality:
    """The kind of data in `source`: the first registered modality that claims it, else the default."""
    for name in REGISTRY:
        if name != DEFAULT_MODALITY and get_modality(name).claims(source, options):
            return get_modality(name)
    return get_modality(DEFAULT_MODALITY)
