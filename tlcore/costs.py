"""What each way of reusing the base costs in the user's wall time, on the machine where it runs.

The time a user is told is from pressing Train (or calling `train`) to a bundle they can download:
starting the job (reading the data, loading the base), the work of the way itself, the finishing
steps (predictions, the "none of my classes" detector, evaluation) and the bundle. Nothing here
comes from a table fitted elsewhere:

- `forward` and `step` are timed on a few real batches of the user's own items when the analysis
  runs (`Modality.time_step`): one item through the frozen base, and one item through a training
  step of fine-tuning (forward and backward through the unfrozen top); `trace`, what the first
  step's tracing took beyond a step, is paid once by every fine-tuning run, and so is a head
  trained on the frozen features first (`head_trial`, below);
- `bundle`, `first_bundle`, `start` and `predict` (the base as it is) are what the last runs on this
  machine took (`record`), with a first guess (`BUNDLE_GUESS`, `FIRST_BUNDLE_GUESS`, `START_GUESS`,
  `PREDICT_GUESS`) until one has run; so are the TFLite copies a user may add to a bundle afterwards
  (`TFLITE_GUESS`); finishing a result grows with the items (`finish_seconds`), scaled by what this
  machine's last runs took against it (`finish_scale`);
- the heads on cached features take `HEADS_PER_FIT` times one logistic regression fitted on the
  same features here (the scikit-learn baselines), plus the head search: its first trial timed the
  same way, times what whole searches took on this machine in their own first trials
  (`search_in_trials`, recorded by `tlcore.train.search`; `SEARCH_TRIALS` until one has run), and
  at least `HEADS_FLOOR` (the constants set on the shared sets: `benchmarks/bench_advice_time.py`
  prints expected against measured).

Timings are kept per machine (its processor, its cores and the library versions) and per base and
input size in `$TRANSFERLAB_HOME/costs/`, so they are paid once and survive restarts; a damaged file
is measured again.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from . import paths, runs
from .errors import TLCoreError

# First guesses, until this machine has recorded its own: the medians that six sets recorded, each in a home of its
# own, on an idle 2-core machine on 2026-12-05 (bench_advice_time --fresh-each on shapes, digits, support, mnist100,
# sst2@150, trec6@150; the other four sets are the check). A job's start (reading the data; the base loaded by the
# analysis before it) took 0.1-0.2 s for images and 0.3-0.7 s for texts; a worker that loads the base takes longer.
START_GUESS = {"image": 0.5, "text": 0.7}
# The final bundle holds the Keras model (texts: and the tokenizer): on Shapes 0.3-0.6 s for a head on the frozen
# base and 0.4-0.8 s for a fine-tuned base saved whole; texts 0.8 s. Its TFLite copies are made on request
# (`tlcore.export.add_tflite`): two conversions with their check took 8.2-11.5 s for a head on the frozen base and
# 17.0-19.4 s for a fine-tuned base (the same 2-core machine, 2026-12-05, benchmarks/bench_bundle.py and probes).
BUNDLE_GUESS = {"image": 0.6, "text": 0.8}  # a bundle of a head on the frozen base
FINETUNE_BUNDLE_GUESS = {"image": 0.8, "text": 1.0}  # a fine-tuned base saved whole
# `add_tflite` as timed, the model's loading and the new zip included: 11.6 s for Shapes' head in a walk (2026-12-05,
# 13.9-14.6 s from the button to the caption naming the copies; the conversions alone 8.2-11.5 s)
TFLITE_GUESS = {"image": 11.5}  # TFLite copies of a head on the frozen base
FINETUNE_TFLITE_GUESS = {"image": 20.0}  # TFLite copies of a fine-tuned base (conversions alone 17.0-19.4 s)
# The scikit-learn baselines and the head search (stopped once they cannot pay), in fits of one logistic regression
# on the same features, and at least the floor; set on the shared sets (benchmarks/bench_advice_time.py).
HEADS_PER_FIT = 40.0
HEADS_FLOOR = 8.0  # seconds: even on a few items, the trees and the search's first trials take some
FIRST_HEAD_FITS = 13  # the first baseline: 3 settings x 3 folds, the refit and 3 out-of-fold fits
# A whole head search (its random trials are larger than the first, the default head; the winner is retrained) in
# seconds of its own first trial (`time_head_trial`), per kind of data, until this machine has recorded its own
# for the base: images 9.0-9.4 (digits, mnist100), texts 5.4-7.7 (sst2, trec6). Not refitted since: the day's later
# ten-set runs recorded images 7.7-13.8 (digits the longest) and texts 3.7-7.4, the data's own spread.
SEARCH_TRIALS = {"image": 9.0, "text": 6.5}
# Finishing a result (selecting, the "none of my classes" detector, evaluating, writing): a fixed part and a part per
# item, set on predict runs of Shapes (180 items: 0.48-0.50 s) and eurosat200 (2,000 items: 0.95-1.03 s) on an idle
# 2-core machine (2026-12-05); a machine's own runs scale it (`finish_scale`). A first guess of 1.5 ms an item had
# put eurosat200's and mnist100's predict at 8.5 s, measured 3.1 s.
FINISH_FIXED, FINISH_PER_ITEM = 0.43, 0.00026
PREDICT_GUESS = {"image": 0.1, "text": 0.3}  # the base as it is, on the cached features (Shapes: 0.01 s)
FIRST_BUNDLE_GUESS = {"image": 0.4, "text": 0.7}  # the first model's bundle (Keras only), built while the run goes on
RECORDS_KEPT = 5
# What bundles are recorded under: the final bundle (Keras only since TFLite became a request; records of the
# bundles before, under "bundle", held the conversions and are not read), and its TFLite copies; ":finetune" for a
# fine-tuned base, which is saved and converted whole.
BUNDLE, TFLITE = "keras_bundle", "tflite"
GUESSES = {BUNDLE: BUNDLE_GUESS, f"{BUNDLE}:finetune": FINETUNE_BUNDLE_GUESS, TFLITE: TFLITE_GUESS,
           f"{TFLITE}:finetune": FINETUNE_TFLITE_GUESS, "first_bundle": FIRST_BUNDLE_GUESS, "predict": PREDICT_GUESS}
# A base whose bundles cost far more than its kind's: USE-m's holds a 260 MB Keras port of the TensorFlow Hub
# model, built once per loaded base (its first bundle) and saved whole. Set on a new machine's predict and extract
# runs of sst2 (150 a class) on USE-m, 2026-12-06 04:28 UTC: first bundles 8.6 and 2.9 s, final bundles 5.3 and
# 5.1 s (the kind's guesses: 0.7 and 0.8). GermEval, the set the benchmark measures USE-m on, was not used.
BASE_GUESSES = {"use_multilingual": {"first_bundle": 5.8, BUNDLE: 5.2}}


@dataclass(frozen=True)
class Rates:
    """Seconds this machine takes for one base at one input size (see the module docstring)."""

    forward: float  # per item through the frozen base, in batches
    step: float  # per training item of one fine-tuning step (forward and backward)
    trace: float = 0.0  # seconds of tracing the fine-tuning step, beyond the step itself: once per run
    decode: float = 0.0  # per item to read and resize it (images; texts: tokenising)
    head_fit: float = 0.0  # one logistic regression on the training features
    head_trial: float = 0.0  # one trial of the head search (the default head, early-stopped) on those features
    first_head: float = 0.0  # the run's first model (the first baseline, its grid on the training folds), fitted here
    bundle: float = 0.0  # building a bundle of a head on the frozen base
    start: float = 0.0  # a job's start: reading the data and loading the base
    finetune_bundle: float = 0.0  # building a bundle of a fine-tuned model
    first_bundle: float = 0.0  # the first model's bundle (Keras only), built while the run goes on
    finish_scale: float = 1.0  # finishing a result here against `finish_seconds`'s first guess
    predict: float = 1.0  # the base as it is: its answers on the cached features
    search_trials: float = SEARCH_TRIALS["image"]  # a whole head search in seconds of its first trial (`head_trial`)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Counts:
    """Items per split: what each way's time grows with."""

    train: int
    val: int
    test: int

    @property
    def total(self) -> int:
        return self.train + self.val + self.test


@dataclass(frozen=True)
class RunParts:
    """A run's expected wall seconds in parts, so a run of several ways is expected as the one run it is: what any
    run pays once (`shared`: its start, the first model finished as a whole result with its bundle, and the final
    result), each way's own work (`work`) and its final bundle (`bundle`; a run builds one). A head on the cached
    features is every run's first model (`first_head`): fitting the heads is extract's own work, and fine-tuning's
    includes it only where extract is not in the run."""

    shared: float
    work: dict[str, float]
    bundle: dict[str, float]
    first_head: float = 0.0
    at_ceiling: bool = False  # every trained way stops after its first head (`expected_parts`): the pages say why

    def seconds(self, ways, budget: float | None = None) -> float | None:
        """One run of `ways` (those this kind of data offers) from pressing Train to its final bundle; None for none."""
        ways = [way for way in dict.fromkeys(ways) if way in self.work]
        if not ways:
            return None
        found = self.shared + max(self.bundle[way] for way in ways) + sum(self.work[way] for way in ways)
        if {"extract", "finetune"} <= set(ways):
            found -= self.first_head
        return round(min(found, budget) if budget is not None else found, 1)

    def each(self, budget: float | None = None) -> dict[str, float]:
        """Each way alone: what the advice sets beside its expected points."""
        return {way: self.seconds([way], budget) for way in self.work}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> RunParts:
        return cls(float(values["shared"]), {k: float(v) for k, v in values["work"].items()},
                   {k: float(v) for k, v in values["bundle"].items()}, float(values.get("first_head", 0.0)),
                   bool(values.get("at_ceiling", False)))


def expected_parts(rates: Rates, counts: Counts, epochs: int, *, at_ceiling: bool = False) -> RunParts:
    """The parts of a run's wall seconds from pressing Train to its final bundle, the features already cached (as
    after the analysis). `at_ceiling`: a head on the frozen base is expected to get validation as right as it can
    tell (`tlcore.train.select`), so a run stops after its first head whatever way was asked
    (`tlcore.train.anytime`); the base as it is is still measured where it was asked."""
    shared = rates.start + rates.first_bundle + 2 * finish_seconds(counts.total, rates.finish_scale)
    heads = max(HEADS_PER_FIT * rates.head_fit + rates.search_trials * rates.head_trial, HEADS_FLOOR)
    # every run's first model, as the analysis timed it: a floor of 1 s put Shapes' runs at 2.5 s, which took 1.6
    first_head = rates.first_head or FIRST_HEAD_FITS * rates.head_fit
    tuning = (rates.head_trial + rates.trace  # the head trained on the frozen features first; the step traced
              + counts.total * rates.decode  # every item read once
              + epochs * (counts.train * rates.step + counts.val * rates.forward)  # the epochs, each with validation
              + 2 * counts.total * rates.forward)  # the features its head reads, every split; tracing, as much
    work = {"predict": rates.predict, "extract": first_head if at_ceiling else heads,
            "finetune": first_head + (0.0 if at_ceiling else tuning)}
    bundle = {"predict": rates.bundle, "extract": rates.bundle,
              "finetune": rates.bundle if at_ceiling else rates.finetune_bundle or rates.bundle}
    return RunParts(shared, work, bundle, first_head, at_ceiling)


def finish_seconds(items: int, scale: float = 1.0) -> float:
    """Seconds to finish one result of `items` items (`FINISH_FIXED`, `FINISH_PER_ITEM`), times this machine's
    `scale`: a rate per item alone, recorded on a small set, had been read on a large one."""
    return scale * (FINISH_FIXED + FINISH_PER_ITEM * items)


def expected_seconds(rates: Rates, counts: Counts, epochs: int, budget: float | None = None, *,
                     at_ceiling: bool = False) -> dict[str, float]:
    """Each way's wall seconds alone from pressing Train to its final bundle (`expected_parts`); with `budget`,
    no way is expected to take longer than the budget lets it."""
    return expected_parts(rates, counts, epochs, at_ceiling=at_ceiling).each(budget)


def expected_for(modality, dataset, choice, measured) -> tuple[Rates, RunParts]:
    """This machine's rates for the data, and a run's expected wall seconds to its final bundle in parts, for the
    ways the kind of data offers: what `tlcore.analysis.analyze` tells the user (`measured`: the modality's
    measures, with the features it cached)."""
    from .train.config import FinetuneConfig

    ways = modality.strategies(choice.name)
    blocks = (measured.reading.settings.get("unfreeze_blocks") or modality.finetune_defaults(choice)[0]) \
        if "finetune" in ways else None  # a kind of data that cannot fine-tune times no step
    splits = dataset.records["split"].to_numpy(dtype=object)
    train, val = splits == "train", splits == "val"
    seconds, at_ceiling = first_head_check(measured.features[train], dataset.labels("train"),
                                           measured.features[val], dataset.labels("val"), len(dataset.classes))
    rates = measure_rates(modality, dataset, choice, blocks, measured.features[train], dataset.labels("train"),
                          at_ceiling=at_ceiling)
    rates = replace(rates, first_head=seconds)
    counts = Counts(*(int((splits == s).sum()) for s in ("train", "val", "test")))
    parts = expected_parts(rates, counts, FinetuneConfig().epochs, at_ceiling=at_ceiling)
    offered = {way: seconds for way, seconds in parts.work.items() if way in ways}
    return rates, replace(parts, work=offered, bundle={way: parts.bundle[way] for way in offered})


def first_head_check(train_features, train_labels, val_features, val_labels, n_classes: int) -> tuple[float, bool]:
    """The run's first model fitted here as the run will fit it (the first baseline's grid on the same features;
    `tlcore.train.baselines`): its seconds, and whether it already gets validation as right as validation can
    tell (`tlcore.train.select.ceiling_within_reach`), in which case every run stops after it whatever way was
    asked (`tlcore.train.anytime`): the expected times say so, instead of guessing it from the probe."""
    from .folds import folds
    from .train.baselines import BASELINES, search_grid
    from .train.config import TrainConfig
    from .train.select import ceiling_within_reach

    config = TrainConfig()
    labels = np.asarray(train_labels)
    watch = Stopwatch()
    try:
        searched = search_grid(BASELINES[config.baselines[0]], train_features, labels, folds(labels, 3, config.seed),
                               n_classes, config.seed)
    except TLCoreError:  # too few items to fold: the run will say so; nothing to foresee here
        return 0.0, False
    seconds = watch.seconds
    if not len(val_labels):
        return seconds, False
    right = float(np.mean(searched.estimator.predict(val_features) == np.asarray(val_labels)))
    return seconds, ceiling_within_reach(right, len(val_labels))


# --- what this machine has measured -----------------------------------------------------------------------------


def machine_key() -> str:
    """The processor, its core count and the library versions: timings are not carried to another machine."""
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith(("model name", "flags")):
                    flags += line
                if line.startswith("flags"):
                    break
    except OSError:
        flags = platform.processor()
    try:
        import keras
        import tensorflow as tf

        versions = f"{tf.__version__}/{keras.__version__}"
    except ImportError:  # pragma: no cover (both are requirements)
        versions = ""
    text = f"{platform.machine()}|{os.cpu_count()}|{flags}|{versions}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file() -> Path:
    return paths.cache_dir("costs") / f"{machine_key()}.json"


def _read() -> dict:
    try:
        found = json.loads(_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # absent or damaged: measured again
    return found if isinstance(found, dict) else {}


def _key(base: str, size: int | None) -> str:
    return f"{base}@{size}" if size else base


def measured(base: str, size: int | None, what: str) -> float | None:
    """The median of what this machine recorded for `what` ("bundle", "start", "forward", "step@6", ...), or None."""
    return _median(_read().get(_key(base, size), {}).get(what))


def recorded() -> dict[str, dict[str, float]]:
    """Everything this machine recorded, as medians: "base@size" -> what -> seconds (for benchmarks and reports)."""
    return {key: {what: value for what, values in entry.items() if (value := _median(values)) is not None}
            for key, entry in _read().items() if isinstance(entry, dict)}


def _median(values) -> float | None:
    """The median of a record's valid seconds; None for no record or a damaged one."""
    if not isinstance(values, list) or not values:
        return None
    numbers = [float(v) for v in values if isinstance(v, int | float) and v >= 0]
    return statistics.median(numbers) if numbers else None


def record(base: str, size: int | None, what: str, seconds: float) -> None:
    """Keep one more measurement of `what` (the last `RECORDS_KEPT`); a failed write only loses the record."""
    try:
        found = _read()
        entry = found.setdefault(_key(base, size), {})
        entry[what] = [*entry.get(what, []), round(float(seconds), 6)][-RECORDS_KEPT:]
        runs.write_json(_file(), found)
    except OSError:
        pass


def guessed(modality: str, base: str, size: int | None, what: str) -> float:
    """What this machine recorded for one of `GUESSES` or "start", else the first guess for the base
    (`BASE_GUESSES`) or for the kind of data."""
    found = measured(base, size, what)
    if found is None:  # the same base at another size: a bundle's time hardly depends on the input size
        others = [v for k, v in _read().items() if k.split("@")[0] == base and isinstance(v, dict)]
        numbers = [float(x) for entry in others for x in entry.get(what, []) if isinstance(x, int | float)]
        found = statistics.median(numbers) if numbers else None
    if found is not None:
        return found
    return BASE_GUESSES.get(base, {}).get(what) or GUESSES.get(what, START_GUESS).get(modality, 10.0)


def measure_rates(modality, dataset, choice, blocks: int | None, features, labels, *,
                  at_ceiling: bool = False) -> Rates:
    """This machine's `Rates` for `dataset` on `choice`: the base's forward pass and a fine-tuning step with
    `blocks` unfrozen timed once per machine, base, size and `Modality.timing_tag` (kept; `Modality.time_step`),
    a head fitted now on the training `features` (what every head on cached features costs here), one trial of
    the head search, and what the last bundles and job starts took. `at_ceiling` (`first_head_check`): every run
    stops after its first head, so neither the step nor the trial is timed (what was recorded is kept): they were
    9 of a cold analysis's 29 s on Shapes, and 2.5 of a warm one's 10 s (2026-12-05)."""
    key = (choice.name, choice.image_size)
    tag = modality.timing_tag(dataset)  # texts: their length class
    names = (f"forward{tag}", f"step@{blocks}{tag}", f"decode{tag}", f"trace@{blocks}{tag}")
    forward, step, decode, trace = (measured(*key, name) for name in names)
    if blocks is None or at_ceiling:  # nothing to time through the base: it cannot fine-tune, or no run will
        forward, step, decode, trace = forward or measured(*key, "forward") or 0.0, step or 0.0, decode or 0.0, \
            trace or 0.0
    elif None in (forward, step, decode, trace):  # timings recorded before the tracing was: timed again
        forward, step, decode, trace = modality.time_step(dataset, choice, blocks)
        for name, value in zip(names, (forward, step, decode, trace), strict=True):
            record(*key, name, value)
        if tag:  # what fine-tuning's reserve reads for the base (`train.stages.validation_seconds`)
            record(*key, "forward", forward)
    trial = 0.0 if at_ceiling else time_head_trial(features, labels, groups=dataset.groups("train"))
    return Rates(forward=forward, step=step, trace=trace, decode=decode, head_fit=time_head_fit(features, labels),
                 head_trial=trial,
                 bundle=guessed(modality.name, *key, BUNDLE), start=guessed(modality.name, *key, "start"),
                 finetune_bundle=guessed(modality.name, *key, f"{BUNDLE}:finetune"),
                 first_bundle=guessed(modality.name, *key, "first_bundle"),
                 finish_scale=measured(*key, "finish_scale") or 1.0, predict=guessed(modality.name, *key, "predict"),
                 search_trials=search_trials(choice.name, modality.name))


def search_trials(base: str, kind: str) -> float:
    """A whole head search on `base` in seconds of its first trial: the median of what this machine recorded
    (`tlcore.train.search.record_search`), `SEARCH_TRIALS` until one has run."""
    return measured(base, None, "search_in_trials") or SEARCH_TRIALS.get(kind, max(SEARCH_TRIALS.values()))


def time_head_fit(features, labels) -> float:
    """Seconds to fit one scaled logistic regression on these features here (the unit the heads' time is in)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    watch = Stopwatch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(features, labels)
    return round(watch.seconds, 4)


def time_head_trial(features, labels, groups=None) -> float:
    """Seconds of one trial of the head search here: the trial `tlcore.train.search` runs first on these features
    with the run's seed (the default head, its start and its inner split, whole `groups` on each side, the same,
    so it trains as many epochs), through Keras Tuner with its per-epoch records and a per-batch callback like the
    search's deadline, in a scratch folder. Timed bare, the same fit took about 40% of a search's own first trial
    on scikit-learn's digits (2026-12-05); unseeded, its start changed how long it trained: 2.1-5.2 s there, for
    one search's 55-59 s."""
    import tempfile

    import keras

    from .folds import group_ids, inner_split
    from .train.config import SearchConfig, TrainConfig
    from .train.tuner import make_tuner

    seed = TrainConfig().seed
    classes = int(labels.max()) + 1
    keras.utils.set_random_seed(seed)  # as the search does before its first trial
    fit, score = inner_split(labels, seed, group_ids(groups))
    onehot = keras.utils.to_categorical(labels, classes)
    # a per-batch hook as the search's deadline (`train.stages.Deadline`, which imports this module) has: Keras
    # then waits for every batch's result
    deadline = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: time.monotonic())
    with tempfile.TemporaryDirectory(prefix="head-trial-") as folder:
        tuner = make_tuner(features, classes, SearchConfig(max_trials=1), seed, float("inf"), Path(folder))
        tuner.search(features[fit], onehot[fit], validation_data=(features[score], onehot[score]), verbose=0,
                     callbacks=[deadline])  # the first trial: every setting at its known-good default
        return round(next(iter(tuner.seconds.values())), 4)


class Stopwatch:
    """Seconds since it was made (`time.monotonic`), for recording how long a step took."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started
