"""Keras Tuner search for a classification head on the cached features.

The oracle is Keras Tuner's random search with two hooks: the first trial is a known-good
default (a linear head with a little dropout, L2 and label smoothing), and no trial starts
after the deadline. Trials run on features, never images, so each takes seconds. A search
folder that already holds trials is resumed, not restarted.

The search never sees the validation split: trials are trained on 80% of the training split
and scored (and early-stopped) on the other 20%; the winner is then retrained on the whole
training split for the epochs its trial needed. So the head's validation accuracy is as honest
as the scikit-learn baselines' (chosen by cross-validation on the training split), and the
run's choice between them on validation is fair.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
from sklearn.model_selection import train_test_split

from ..errors import SettingError
from ..progress import ProgressCallback, report
from .candidate import Candidate, Context, per_sample_ms
from .config import HeadSpace, SearchConfig

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
    """Random search whose first trial is the default head and which stops at a deadline."""

    def __init__(self, deadline: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.deadline = deadline

    def populate_space(self, trial_id):
        if time.monotonic() >= self.deadline:
            return {"status": kt.engine.trial.TrialStatus.STOPPED, "values": None}
        if not self.trials:  # the trial being created is not in self.trials yet
            defaults = kt.HyperParameters()
            for hp in self.hyperparameters.space:
                defaults.merge([hp])
                if defaults.is_active(hp):
                    defaults.values[hp.name] = hp.default
            return {"status": kt.engine.trial.TrialStatus.RUNNING, "values": defaults.values}
        return super().populate_space(trial_id)


class HeadTuner(kt.Tuner):
    """Clears the Keras session before each trial and reports each finished trial."""

    def __init__(self, *args, progress: ProgressCallback | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.progress = progress
        self.ran: list[str] = []  # trial ids this process ran

    def on_trial_begin(self, trial):
        keras.backend.clear_session()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self.ran.append(trial.trial_id)
        if not hasattr(self.oracle, "trials"):  # a worker: its oracle is the chief's, over gRPC
            report(self.progress, "search", len(self.ran), len(self.ran), f"trial {trial.trial_id} done")
            return
        finished = [t for t in self.oracle.trials.values() if t.score is not None]
        best = max((t.score for t in finished), default=float("nan"))
        score = trial.score if trial.score is not None else float("nan")
        report(self.progress, "search", len(finished), self.oracle.max_trials,
               f"trial {trial.trial_id}: val_accuracy {score:.3f} (best {best:.3f})",
               {"val_accuracy": score, "best_val_accuracy": best})


def make_tuner(
    x: np.ndarray, n_classes: int, config: SearchConfig, seed: int, deadline: float, directory: Path,
    progress: ProgressCallback | None = None,
) -> HeadTuner:
    """The tuner every process of a search builds alike (the chief's oracle serves the workers)."""
    hypermodel = HeadHyperModel.for_features(x, n_classes, config)
    oracle = DeadlineOracle(
        deadline=deadline,
        objective=kt.Objective("val_accuracy", "max"),
        max_trials=config.max_trials,
        seed=seed,
        max_consecutive_failed_trials=3,
    )
    return HeadTuner(oracle, hypermodel, directory=str(directory), project_name="head_search",
                     overwrite=False, progress=progress)


INNER_VALIDATION = 0.2


def inner_split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (fit, score) indices of the training split for the trials."""
    fit, score = train_test_split(np.arange(len(y)), test_size=INNER_VALIDATION, stratify=y, random_state=seed)
    return np.sort(fit), np.sort(score)


def run(ctx: Context) -> list[Candidate]:
    if ctx.config.search.max_trials < 1:
        return []
    keras.utils.set_random_seed(ctx.config.seed)
    x, y = ctx.features["train"].features, ctx.labels["train"]
    onehot = keras.utils.to_categorical(y, ctx.n_classes)
    if np.bincount(y).min() < 2:
        raise SettingError("the head search needs at least 2 training images per class; use more images")
    fit, score = inner_split(y, ctx.config.seed)
    start = time.perf_counter()
    arrays = (x[fit], onehot[fit], x[score], onehot[score])
    if ctx.config.search.chief_address:
        from .distributed import serve_search

        tuner = serve_search(ctx, x, arrays)
    else:
        tuner = make_tuner(x, ctx.n_classes, ctx.config.search, ctx.config.seed, ctx.deadline, ctx.run_dir / "search",
                           ctx.progress)
        tuner.search(arrays[0], arrays[1], validation_data=arrays[2:], verbose=0)
    trials = [t for t in tuner.oracle.trials.values() if t.score is not None]
    if not trials:
        return []
    best_trial = tuner.oracle.get_best_trials(1)[0]
    best_hp = best_trial.hyperparameters
    epochs = max(1, round((best_trial.best_step + 1) / (1 - INNER_VALIDATION)))
    keras.backend.clear_session()
    keras.utils.set_random_seed(ctx.config.seed)
    model = tuner.hypermodel.build(best_hp)
    model.fit(x, onehot, batch_size=ctx.config.search.batch_size, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    predict = lambda x: model.predict(x, verbose=0, batch_size=256)  # noqa: E731
    return [Candidate(
        strategy="extract",
        name="keras_head",
        val_logits=predict(ctx.features["val"].features).astype(np.float64),
        test_logits=predict(ctx.features["test"].features).astype(np.float64),
        train_seconds=seconds,
        size_bytes=ctx.base_size_bytes + model.count_params() * 4,
        latency_ms=ctx.base_latency_ms + per_sample_ms(predict, ctx.features["val"].features),
        params=dict(best_hp.values) | {"trials": len(trials), "epochs": epochs, "trial": best_trial.trial_id,
                                       "search_score": best_trial.score},
        model=model,
        complexity=2 + int(best_hp.values.get("layers", 0)),
    )]
