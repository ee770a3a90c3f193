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

import keras
import numpy as np

from .. import costs
from ..errors import SettingError
from ..folds import INNER_VALIDATION, inner_split
from .candidate import Candidate, Context, per_sample_ms
from .search_workers import serve_search
from .stages import Deadline
from .tuner import HeadHyperModel, make_tuner

__all__ = ["HeadHyperModel", "inner_split", "make_tuner", "run"]

def _baselines_cv(ctx: Context) -> float | None:
    """The best cross-validated accuracy of the baselines fitted so far (on the training split, like the trials'
    inner split): what a head must beat to matter."""
    cv = [c.params["cv_accuracy"] for c in (ctx.best.candidates if ctx.best else []) if "cv_accuracy" in c.params]
    return max(cv) if cv else None


def record_search(ctx: Context, tuner, seconds: float) -> None:
    """Keep what this whole search took in seconds of its first trial (the default head, which the analysis times
    alone: `tlcore.costs.time_head_trial`), for the next expected times here; only a search that ended by itself
    or at its own share of time (which it would have run past: at least that much is recorded, so the median
    grows when most searches need more), since one the run's deadline stopped says nothing of how long the next
    would run."""
    first = getattr(tuner, "seconds", {}).get(min(tuner.oracle.trials, default=None))
    ended_by_itself = bool(tuner.oracle.stopped_because) or len(tuner.oracle.trials) >= ctx.config.search.max_trials
    if first and ended_by_itself:
        costs.record(ctx.config.backbone, None, "search_in_trials", seconds / first)


def run(ctx: Context) -> list[Candidate]:
    if ctx.config.search.max_trials < 1:
        return []
    keras.utils.set_random_seed(ctx.config.seed)
    x, y = ctx.features["train"].features, ctx.labels["train"]
    onehot = keras.utils.to_categorical(y, ctx.n_classes)
    if np.bincount(y).min() < 2:
        raise SettingError("the head search needs at least 2 training images per class; use more images")
    fit, score = inner_split(y, ctx.config.seed, ctx.groups("train"))
    start = time.perf_counter()
    arrays = (x[fit], onehot[fit], x[score], onehot[score])
    # the stops that end a search once more trials cannot pay, for the one oracle (the chief's, when distributed)
    stops = {"inner_items": len(score) if ctx.config.stop_early else 0, "to_beat": _baselines_cv(ctx)}
    if ctx.config.search.chief_address:
        tuner = serve_search(ctx, x, arrays, **stops)
    else:
        deadline = Deadline(ctx.deadline)  # a trial stops at the deadline too, between batches
        share = ctx.config.search.share if ctx.config.stop_early else None
        if share:  # in seconds of the search's first trial: times what searches take here
            share *= costs.search_trials(ctx.config.backbone, ctx.dataset.modality)
        tuner = make_tuner(x, ctx.n_classes, ctx.config.search, ctx.config.seed, ctx.deadline, ctx.run_dir / "search",
                           ctx.progress, **stops, deadline_callback=deadline,
                           share=share)
        tuner.search(arrays[0], arrays[1], validation_data=arrays[2:], verbose=0, callbacks=[deadline])
    if tuner.oracle.stopped_because and ctx.best is not None:
        ctx.best.record_stop("the rest of the Keras head search", tuner.oracle.stopped_because, ctx.seconds_left())
    trials = [t for t in tuner.oracle.trials.values() if t.score is not None]
    if not trials:
        return []
    best_trial = tuner.oracle.get_best_trials(1)[0]
    best_hp = best_trial.hyperparameters
    epochs = max(1, round((best_trial.best_step + 1) / (1 - INNER_VALIDATION)))
    retrain = getattr(tuner, "seconds", {}).get(best_trial.trial_id, 0.0) / (1 - INNER_VALIDATION)
    if ctx.seconds_left() < retrain:  # no time to retrain on all the training split: the trial's own head, as trained
        model, epochs = tuner.get_best_models(1)[0], 0
    else:
        keras.backend.clear_session()
        keras.utils.set_random_seed(ctx.config.seed)
        model = tuner.hypermodel.build(best_hp)
        model.fit(x, onehot, batch_size=ctx.config.search.batch_size, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    record_search(ctx, tuner, seconds)
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
