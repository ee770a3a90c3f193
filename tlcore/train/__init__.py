"""Train every requested strategy, select on validation, measure once on test, write a run folder.

`train` is the one entry point the CLI and the app share, for every kind of data: the dataset's
modality (`tlcore.modality`) resolves the base, computes the features once and names the
strategies; each strategy gets a share of the time budget that is left when its turn comes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import costs, runs
from ..errors import SettingError, TLCoreError, UnknownNameError
from ..modality import modality_of
from ..progress import ProgressCallback, report
from ..words import strategy_title
from .anytime import FIRST_FOLDER, BestSoFar
from .baselines import first_head
from .candidate import Candidate, Context
from .config import STRATEGY_NAMES, FinetuneConfig, HeadSpace, SearchConfig, TrainConfig
from .evaluate import Evaluation, accuracy, evaluate, largest_class_accuracy
from .select import Selection, one_standard_error_choice, select, strategy_choices

__all__ = ["FinetuneConfig", "HeadSpace", "RunResult", "SearchConfig", "TrainConfig", "one_standard_error_choice",
           "strategy_choices", "train"]

FINISHING_SHARE = 0.05


@dataclass(frozen=True, eq=False)
class RunResult:
    run_dir: Path
    leaderboard: pd.DataFrame
    selected: Candidate
    test: Evaluation
    per_strategy: dict[str, Evaluation]
    report: dict
    candidates: list[Candidate]
    base: object  # the loaded frozen base the features came from (an image Backbone or a TextEncoder)
    dataset: object


def _strategies(requested: tuple[str, ...], dataset) -> list[str]:
    """The strategies to train, in order: "all" means every one the dataset's kind of data has."""
    available = modality_of(dataset).strategies()
    if "all" in requested:
        return [name for name in STRATEGY_NAMES if name in available]
    names = list(dict.fromkeys(requested))
    for name in names:
        if name not in available:
            what = "strategy" if name not in STRATEGY_NAMES else f"strategy for {modality_of(dataset).noun}"
            raise UnknownNameError(what, name, [*available, "all"])
    return names


def train(
    dataset,
    config: TrainConfig = TrainConfig(),
    workspace: Path | None = None,
    *,
    run_id: str | None = None,
    progress: ProgressCallback | None = None,
    first_model: Callable[[RunResult], None] | None = None,
    started: float | None = None,
    after_seconds: float = 0.0,
) -> RunResult:
    """Train `config.strategies` on `dataset` (images or texts) within `config.budget_seconds`.

    With `run_id` of an earlier, interrupted run, its folder is reused and the head search resumes.
    `first_model` is called once, while the run goes on, with the first model as a whole interim
    result (tested, in `<run>/first/`): the job and the CLI build its bundle there. A head on the
    cached features is always the first model, also when only fine-tuning was asked for.

    The budget is the user's wall time: it counts from `started` (a `time.monotonic()` reading taken
    when the user asked, before reading the data; default now), and `after_seconds` of it are left for
    what follows the run (the bundle: `tlcore.deliver`).
    """
    started = time.monotonic() if started is None else started
    # Strategies share 95% of what the budget leaves after `after_seconds`; the rest is kept for what cannot
    # stop at a deadline: predicting validation and test items, the detector, evaluating and writing the run.
    end = started + (1 - FINISHING_SHARE) * config.budget_seconds - after_seconds
    names = _strategies(config.strategies, dataset)
    from ..devices import STRATEGIES as DISTRIBUTIONS

    if config.distribution not in DISTRIBUTIONS:
        raise UnknownNameError("distribution strategy", config.distribution, list(DISTRIBUTIONS))
    if not (math.isfinite(config.budget_seconds) and config.budget_seconds > 0):
        raise SettingError(f"budget_seconds must be a positive number of seconds; got {config.budget_seconds}")
    run_dir = runs.open_run(Path(workspace or "."), run_id, run_request(dataset, config))
    runs.set_status(run_dir, "running", strategies=names)
    with runs.Heartbeat(run_dir):
        try:
            result = _run(dataset, config, run_dir, names, started, end, progress, first_model)
        except Exception as error:
            message = str(error) if isinstance(error, TLCoreError) else f"{type(error).__name__}: {error}"
            message = message.splitlines()[0][:500] if message else ""
            if getattr(error, "run_state", "failed") == "cancelled":  # jobs.JobCancelled: stopped on request
                runs.set_status(run_dir, "cancelled", reason=message, strategies=names)
            else:
                runs.set_status(run_dir, "failed", error=message, strategies=names)
            raise
        except BaseException as stop:  # Ctrl-C, a process exit, or the app stopping the script that trained
            reason = "stopped by the user (Ctrl-C)" if isinstance(stop, KeyboardInterrupt) else \
                f"stopped before it finished ({type(stop).__name__})"
            runs.set_status(run_dir, "interrupted", reason=reason, strategies=names)
            raise
    runs.set_status(run_dir, "complete", seconds=round(time.monotonic() - started, 1))
    return result


def run_request(dataset, config: TrainConfig) -> dict:
    """What a run is asked to do: the data (by its split digest) and the settings; a resume must ask the same."""
    names = _strategies(config.strategies, dataset)
    return {"split_hash": dataset.split_hash(), "config": dataclasses.asdict(config), "strategies": names}


def _run(dataset, config: TrainConfig, run_dir: Path, names: list[str], started: float, end: float,
         progress, first_model) -> RunResult:
    dataset.save(run_dir / "dataset")
    modality = modality_of(dataset)
    prepared = modality.prepare(dataset, config, progress)
    config = prepared.config
    features_seconds = time.monotonic() - started
    if getattr(prepared.features, "from_cache", False):  # what a run takes before its first strategy, here
        costs.record(config.backbone, config.image_size, "start", features_seconds)
    runs.write_json(run_dir / "config.json", dataclasses.asdict(config) | {"strategies": names})
    splits = dataset.records["split"].to_numpy(dtype=object)
    features = {s: prepared.features.rows(splits == s) for s in ("train", "val", "test")}
    labels = {s: dataset.labels(s) for s in ("train", "val", "test")}
    ctx = Context(dataset, config, prepared.base, features, labels, run_dir, end, prepared.latency_ms,
                  prepared.size_bytes, progress)  # fmt: skip
    ctx.shared["seconds_to_features"] = round(features_seconds, 1)

    ctx.best = BestSoFar(run_dir, labels["val"], labels["train"], started, config.backbone,
                         on_first=first_model and (lambda chosen: _first(ctx, chosen, started, first_model)))
    registry = modality.strategies()
    candidates: list[Candidate] = []
    if "extract" in registry and "extract" not in names and names != ["predict"]:
        ctx.deadline = end
        report(progress, "strategies", 0, len(names), "a first model: a head on the cached features")
        candidates += first_head(ctx)  # offered as they come: the first model, seconds after the features
    # a head on the cached features first wherever the run trains one: predict, first in `names`, had made the base's
    # own answers the first model of "all" (46.2% on digits, offered for download beside a best so far of 97.5%)
    order = sorted(names, key=lambda name: name != "extract")
    for index, name in enumerate(order):
        runner, weight = registry[name]
        share = weight / sum(registry[n][1] for n in order[index:])
        ctx.deadline = time.monotonic() + share * max(end - time.monotonic(), 0.0)
        # the base as it is takes seconds and is what a comparison of the ways starts from: asked, it is measured
        if (index or candidates) and name != "predict" and ctx.stop_before(f"strategy {name}"):
            continue
        report(progress, "strategies", index, len(names), f"training: {strategy_title(name)} ({name})")  # as the radio
        watch = costs.Stopwatch()
        found = runner(ctx)
        if name == "predict":  # the base as it is: seconds whatever the data, what the next analysis expects of it
            costs.record(config.backbone, config.image_size, "predict", watch.seconds)
        for candidate in found:
            ctx.offer(candidate)
        candidates += found
    ctx.deadline = end
    watch = costs.Stopwatch()
    result = _finish(ctx, candidates, names, time.monotonic() - started)
    costs.record(config.backbone, config.image_size, "finish_scale", watch.seconds / costs.finish_seconds(len(dataset)))
    return result


def _first(ctx: Context, chosen: list[Candidate], started: float, callback: Callable[[RunResult], None]) -> None:
    """The first model as a whole interim result in `<run>/first/`, handed to `callback` (which builds its bundle)."""
    interim = dataclasses.replace(ctx, run_dir=ctx.run_dir / FIRST_FOLDER, progress=None, best=None)
    try:
        callback(_finish(interim, chosen, [chosen[0].strategy], time.monotonic() - started, save_models=False))
    except TLCoreError as error:  # the run goes on; only the early download is missing
        report(ctx.progress, "first model", 0, 1, f"no bundle of the first model ({str(error)[:200]})")


def _finish(ctx: Context, candidates: list[Candidate], names: list[str], seconds: float,
            save_models: bool = True) -> RunResult:
    """Select on validation, evaluate the chosen models once on test, save them and write the report."""
    if not candidates:
        raise SettingError("no model finished within the time budget; raise budget_seconds")
    selection = select(candidates, ctx.labels["val"], ctx.labels["train"])
    _fit_unknown(ctx, candidates)
    # the selected model's strategy is evaluated too: a run asked only to fine-tune keeps its first head when
    # fine-tuning did not beat it on validation
    per_strategy = _evaluate_choices(ctx, selection, list(dict.fromkeys([*names, selection.selected.strategy])))
    rows = _leaderboard(selection, ctx.labels["val"], per_strategy)
    if save_models:
        _save_models(ctx, candidates)
    report_json = _report(ctx, selection, per_strategy, rows, names, seconds)
    runs.write_atomic(ctx.run_dir / "leaderboard.csv", pd.DataFrame(rows).to_csv(index=False))
    runs.write_json(ctx.run_dir / "report.json", report_json)
    return RunResult(ctx.run_dir, pd.DataFrame(rows), selection.selected, per_strategy[selection.selected.strategy][1],
                     {n: e for n, (_, e) in per_strategy.items()}, report_json, selection.ordered, ctx.base,
                     ctx.dataset)


def _evaluate_choices(ctx: Context, selection: Selection, names: list[str]) -> dict[str, tuple[Candidate, Evaluation]]:
    """Each requested strategy's chosen model on the test split: read once, here."""
    items = [str(item) for item in ctx.dataset.items("test")]
    return {name: (best, evaluate(best.test_logits, ctx.labels["test"], ctx.dataset.classes,
                                  selection.temperature(best), items, ctx.labels["train"]))
            for name in names if (best := selection.chosen.get(name)) is not None}


def _fit_unknown(ctx: Context, candidates: list[Candidate]) -> None:
    """Each candidate's "none of my classes" detector, on the features its head reads (`tlcore.unknown`)."""
    from ..unknown import fit_detector

    # cross_fit: where validation is too small to set the line on, the training items help, each scored by a detector
    # fitted without it (a gathered set of 10 images a class leaves 4 for validation)
    shared = fit_detector(ctx.features["train"].features, ctx.labels["train"], ctx.features["val"].features,
                          cross_fit=True)
    for c in candidates:
        c.unknown = fit_detector(_head_features(ctx, c, "train"), ctx.labels["train"], _head_features(ctx, c, "val"),
                                 cross_fit=True) if c.own_features else shared


def _head_features(ctx: Context, candidate: Candidate, split: str) -> np.ndarray:
    """The features `candidate`'s head reads on `split`: its own where fine-tuning changed them, else the base's."""
    return candidate.own_features[split] if candidate.own_features else ctx.features[split].features


def _unknown_summary(ctx: Context, candidate: Candidate) -> dict | None:
    return candidate.unknown.describe(_head_features(ctx, candidate, "test")) if candidate.unknown else None


def _leaderboard(selection: Selection, y_val: np.ndarray, per_strategy: dict) -> list[dict]:
    evaluated = {id(c): e for c, e in per_strategy.values()}
    return [{
        "strategy": c.strategy, "model": c.name, "val_accuracy": accuracy(c.val_logits, y_val),
        "test_accuracy": evaluated[id(c)].accuracy if id(c) in evaluated else None,
        "macro_f1": evaluated[id(c)].macro_f1 if id(c) in evaluated else None,
        "train_seconds": round(c.train_seconds, 2), "size_bytes": int(c.size_bytes),
        "latency_ms": round(c.latency_ms, 3), "selected": c is selection.selected,
    } for c in selection.ordered]  # fmt: skip


def _report(ctx: Context, selection: Selection, per_strategy: dict, rows: list[dict], names: list[str],
            seconds: float) -> dict:
    selected = selection.selected
    test = per_strategy[selected.strategy][1]
    return {
        "run_dir": str(ctx.run_dir),
        "strategy": names[0] if len(names) == 1 else "all",
        "strategies": names,
        "modality": ctx.dataset.modality,
        "backbone": ctx.config.backbone,
        "image_size": ctx.config.image_size,
        "split_hash": ctx.dataset.split_hash(),
        "source": ctx.dataset.source,
        "classes": list(ctx.dataset.classes),
        "seconds": round(seconds, 1),
        "seconds_to_features": ctx.shared.get("seconds_to_features"),
        "budget_seconds": ctx.config.budget_seconds,
        "leaderboard": rows,
        "selected": {"strategy": selected.strategy, "model": selected.name, "params": _plain(selected.params),
                     "temperature": test.temperature, "temperature_fitted_on": test.temperature_fitted_on,
                     "temperature_note": test.temperature_note},
        "test": test.to_dict(),
        "per_strategy": {n: {"model": c.name, "accuracy": e.accuracy, "macro_f1": e.macro_f1}
                         for n, (c, e) in per_strategy.items()},
        "misclassified": test.misclassified,
        "largest_class": _largest_class(ctx),
        "unknown": _unknown_summary(ctx, selected),
        "anytime": ctx.best.summary(seconds, ctx.config.budget_seconds) if ctx.best is not None else None,
    }  # fmt: skip


def _largest_class(ctx: Context) -> dict:
    """What always answering the training split's largest class scores on validation and on test."""
    index, val = largest_class_accuracy(ctx.labels["train"], ctx.labels["val"])
    _, test = largest_class_accuracy(ctx.labels["train"], ctx.labels["test"])
    return {"class": ctx.dataset.classes[index], "val_accuracy": val, "test_accuracy": test,
            "val_items": len(ctx.labels["val"]), "test_items": len(ctx.labels["test"])}


def _save_models(ctx: Context, candidates: list[Candidate]) -> None:
    """Keras models as .keras; label maps and linear scikit-learn models as plain arrays (.npz)."""
    import io

    folder = ctx.run_dir / "models"
    for c in candidates:
        stem = f"{c.strategy}_{c.name}"
        if hasattr(c.model, "save"):
            runs.save_keras(c.model, folder / f"{stem}.keras")
        elif isinstance(c.model, np.ndarray):
            buffer = io.BytesIO()
            np.savez(buffer, label_map=c.model)
            runs.write_atomic(folder / f"{stem}.npz", buffer.getvalue())


def _plain(params: dict) -> dict:
    return {k: v for k, v in params.items() if k != "history"}
