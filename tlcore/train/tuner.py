"""The Keras Tuner pieces of the head search, built alike by every process of a search.

`make_tuner` gives the tuner the single-process search (`tlcore.train.search`) and the chief
and its workers (`tlcore.train.search_workers`) all build: a hypermodel of heads on standardised
features, and Keras Tuner's random search whose first trial is a known-good default and which
starts no trial after the deadline.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np

from ..progress import ProgressCallback, report
from ..words import percent
from .config import HeadSpace, SearchConfig
from .select import ceiling_within_reach, standard_error

# name -> (choices, known-good default)
SPACE = {
    "layers": ([0, 1, 2], 0),
    "units": ([128, 256, 512], 256),
    "dropout": ([0.0, 0.2, 0.4], 0.2),
    "l2": ([0.0, 1e-4, 1e-3], 1e-4),
    "label_smoothing": ([0.0, 0.1], 0.1),
}
LEARNING_RATE = (1e-4, 3e-3, 1e-3)  # log-uniform range and default


def _hp(hp: kt.HyperParameters, space: HeadSpace, name: str):
    fixed = getattr(space, name)
    if fixed is not None:
        return hp.Fixed(name, fixed)
    if name == "learning_rate":
        low, high, default = LEARNING_RATE
        return hp.Float(name, low, high, sampling="log", default=default)
    choices, default = SPACE[name]
    return hp.Choice(name, choices, default=default)


class HeadHyperModel(kt.HyperModel):
    """Features (standardised inside the model) -> [Dense + Dropout] x layers -> Dropout -> logits."""

    def __init__(self, mean: np.ndarray, variance: np.ndarray, n_classes: int, config: SearchConfig) -> None:
        super().__init__(name="head")
        self.mean, self.variance, self.n_classes, self.config = mean, variance, n_classes, config

    @classmethod
    def for_features(cls, x: np.ndarray, n_classes: int, config: SearchConfig) -> HeadHyperModel:
        """A head standardising with the statistics of the training features `x`."""
        return cls(x.mean(axis=0), x.var(axis=0) + 1e-6, n_classes, config)

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        space = self.config.space
        regulariser = keras.regularizers.L2(_hp(hp, space, "l2"))
        dropout = _hp(hp, space, "dropout")
        units = _hp(hp, space, "units")
        inputs = keras.Input((len(self.mean),), name="features")
        x = keras.layers.Normalization(mean=self.mean, variance=self.variance, name="standardise")(inputs)
        for i in range(_hp(hp, space, "layers")):
            x = keras.layers.Dense(units, activation="relu", kernel_regularizer=regulariser, name=f"hidden_{i}")(x)
            x = keras.layers.Dropout(dropout)(x)
        x = keras.layers.Dropout(dropout)(x)
        outputs = keras.layers.Dense(self.n_classes, kernel_regularizer=regulariser, name="logits")(x)
        model = keras.Model(inputs, outputs, name="head")
        model.compile(
            optimizer=keras.optimizers.Adam(_hp(hp, space, "learning_rate")),
            loss=keras.losses.CategoricalCrossentropy(from_logits=True,
                                                      label_smoothing=_hp(hp, space, "label_smoothing")),
            metrics=["accuracy"],  # by keyword: a third positional argument would be loss_weights
        )
        return model

    def fit(self, hp, model, x, y, validation_data, callbacks=None, **kwargs):
        stop = keras.callbacks.EarlyStopping("val_loss", patience=self.config.patience, restore_best_weights=True)
        return model.fit(x, y, batch_size=self.config.batch_size, epochs=self.config.max_epochs,
                         validation_data=validation_data, callbacks=[*(callbacks or []), stop], verbose=0)


class DeadlineOracle(kt.oracles.RandomSearchOracle):
    """Random search whose first trial is the default head and which stops at a deadline, or once more trials
    cannot pay (`stale_trials` > 0): the best is at what the inner split can resolve, or that many trials in a
    row have not beaten it by one standard error. The best starts at `to_beat`, what the run already has (the
    scikit-learn baselines' cross-validated accuracy on the same training split): a head that does not beat
    them cannot become the run's model. `stopped_because` says which."""

    def __init__(self, deadline: float, stale_trials: int = 0, inner_items: int = 0,
                 to_beat: float | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.deadline = deadline
        self.stale_trials, self.inner_items, self.to_beat = stale_trials, inner_items, to_beat
        self.stopped_because = ""
        self._cap_why = ""  # why the deadline is the search's own share of time, once `cap` has set one

    def cap(self, at: float, why: str) -> None:
        """Start no trial after `at` (when earlier than the deadline), and say `why` if that is what ends it."""
        if at < self.deadline:
            self.deadline, self._cap_why = at, why

    def populate_space(self, trial_id):
        if time.monotonic() >= self.deadline:
            self.stopped_because = self.stopped_because or self._cap_why
            return {"status": kt.engine.trial.TrialStatus.STOPPED, "values": None}
        self.stopped_because = self.stopped_because or self._cannot_pay()
        if self.stopped_because:
            return {"status": kt.engine.trial.TrialStatus.STOPPED, "values": None}
        if not self.trials:  # the trial being created is not in self.trials yet
            defaults = kt.HyperParameters()
            for hp in self.hyperparameters.space:
                defaults.merge([hp])
                if defaults.is_active(hp):
                    defaults.values[hp.name] = hp.default
            return {"status": kt.engine.trial.TrialStatus.RUNNING, "values": defaults.values}
        return super().populate_space(trial_id)


    def _cannot_pay(self) -> str:
        """Why further trials cannot pay ("" while they still can)."""
        if not self.stale_trials or not self.inner_items:
            return ""
        n = self.inner_items
        scores = [t.score for _, t in sorted(self.trials.items()) if t.score is not None]
        if scores and ceiling_within_reach(max(scores), n):
            return (f"the best trial has {max(scores):.1%} of the inner split's {n} items right: no trial could lead "
                    "it by more than one standard error")
        best, stale = (float("-inf") if self.to_beat is None else self.to_beat), 0
        for score in scores:
            if score > best + (standard_error(best, n) if best > float("-inf") else 0.0):
                best, stale = score, 0
            else:
                stale += 1
        if stale >= self.stale_trials:
            # where each score was measured, in words: walk 8 read "the best (97.1%)" beside the head's 83.8% on
            # validation, walk 9 "one standard error of that split (5.1%)" as jargon
            what = (f"the baselines' {best:.1%} (cross-validated on the training split)" if best == self.to_beat else
                    f"the best trial's {best:.1%}")
            return (f"{stale} trials in a row scored no more than {what} plus {100 * standard_error(best, n):.1f} "
                    f"points, a lead chance explains on the {n} training items the search holds out (not the "
                    "validation split)")
        return ""


class HeadTuner(kt.Tuner):
    """Clears the Keras session before each trial and reports each finished trial. With `share` (seconds of its
    first trial, the default head), the search gets that much time once the first trial has shown its pace: no
    trial starts after it, and `deadline`, the callback its trials are given, stops a running one there."""

    def __init__(self, *args, progress: ProgressCallback | None = None, share: float | None = None,
                 deadline: keras.callbacks.Callback | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.progress, self.share, self.deadline = progress, share, deadline
        self.ran: list[str] = []  # trial ids this process ran
        self.seconds: dict[str, float] = {}  # trial id -> seconds it took here (what retraining its head costs)
        self._began = 0.0
        self._search_began = time.monotonic()

    def _keep_to_share(self, first: float) -> None:
        at = self._search_began + self.share * first
        self.oracle.cap(at, f"the search had its share of time ({self.share:.0f} times its first trial, "
                            f"{self.share * first:.0f} s: what head searches take on this machine, with room)")
        if self.deadline is not None:
            self.deadline.deadline = min(self.deadline.deadline, at)  # kt copies it into each trial that starts

    def on_trial_begin(self, trial):
        keras.backend.clear_session()
        self._began = time.monotonic()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self.seconds[trial.trial_id] = time.monotonic() - self._began
        self.ran.append(trial.trial_id)
        if not hasattr(self.oracle, "trials"):  # a worker: its oracle is the chief's, over gRPC
            report(self.progress, "search", len(self.ran), len(self.ran), f"trial {trial.trial_id} done")
            return
        if self.share and trial.trial_id == min(self.oracle.trials):  # the first, the default head (ids are padded)
            self._keep_to_share(self.seconds[trial.trial_id])
        finished = [t for t in self.oracle.trials.values() if t.score is not None]
        best = max((t.score for t in finished), default=float("nan"))
        score = trial.score if trial.score is not None else float("nan")
        number = int(trial.trial_id) + 1 if str(trial.trial_id).isdigit() else trial.trial_id  # from 1, as the step's
        report(self.progress, "search", len(finished), self.oracle.max_trials,  # "2 of 12 trials done" (walk 7)
               f"trial {number}: {percent(score)} right on an inner split of the training data (best so far "
               f"{percent(best)})",
               {"val_accuracy": score, "best_val_accuracy": best})


def make_tuner(
    x: np.ndarray, n_classes: int, config: SearchConfig, seed: int, deadline: float, directory: Path,
    progress: ProgressCallback | None = None, inner_items: int = 0, to_beat: float | None = None,
    share: float | None = None, deadline_callback: keras.callbacks.Callback | None = None,
) -> HeadTuner:
    """The tuner every process of a search builds alike (the chief's oracle serves the workers). With
    `inner_items` (the inner split's size), the search stops once more trials cannot pay (`to_beat`: the
    accuracy a trial must lead by one standard error to count as a gain); with `share`, at that many times its
    first trial's seconds (`HeadTuner`)."""
    hypermodel = HeadHyperModel.for_features(x, n_classes, config)
    oracle = DeadlineOracle(
        deadline=deadline,
        stale_trials=config.stale_trials,
        inner_items=inner_items,
        to_beat=to_beat,
        objective=kt.Objective("val_accuracy", "max"),
        max_trials=config.max_trials,
        seed=seed,
        max_consecutive_failed_trials=3,
    )
    return HeadTuner(oracle, hypermodel, directory=str(directory), project_name="head_search",
                     overwrite=False, progress=progress, share=share, deadline=deadline_callback)
