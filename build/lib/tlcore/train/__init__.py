"""Train every requested strategy, select on validation, measure once on test, write a run folder.

`train` is the one entry point the CLI and the app share. Strategies are a registry; each gets
a share of the time budget that is left when its turn comes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import runs
from ..backbones import load_backbone
from ..data import Dataset
from ..errors import SettingError, TLCoreError, UnknownNameError
from ..features import extract_features
from ..progress import ProgressCallback, report
from . import baselines, finetune, predict, search
from .candidate import Candidate, Context
from .config import STRATEGY_NAMES, FinetuneConfig, HeadSpace, SearchConfig, TrainConfig, auto_image_size
from .evaluate import Evaluation, accuracy, evaluate, fit_temperature, negative_log_likelihood

__all__ = ["FinetuneConfig", "HeadSpace", "RunResult", "SearchConfig", "TrainConfig", "train"]


def _extract(ctx: Context) -> list[Candidate]:
    stage_end = ctx.deadline
    ctx.deadline = time.monotonic() + 0.4 * ctx.seconds_left()  # baselines first, at most 40% of the share
    found = baselines.run(ctx)
    ctx.deadline = stage_end
    heads = search.run(ctx)
    if heads:
        ctx.shared["keras_head"] = heads[0].model
    return found + heads


FINISHING_SHARE = 0.05


def _text_strategies() -> dict:
    from ..text import finetune as text_finetune
    from ..text import zeroshot

    return {"predict": (zeroshot.run, 0.02), "extract": (_extract, 0.4), "finetune": (text_finetune.run, 0.58)}


# kind of data -> strategy name -> (runner, weight: the share of the remaining budget it gets relative to the
# others requested). The extract strategy is the same for both: it only sees cached features.
STRATEGIES = {
    "image": {"predict": (predict.run, 0.02), "extract": (_extract, 0.4), "finetune": (finetune.run, 0.58)},
    "text": _text_strategies,  # imported when first used: the text stack loads keras-hub
}


def strategies_for(modality: str) -> dict:
    found = STRATEGIES[modality]
    return found() if callable(found) else found


@dataclass(frozen=True, eq=False)
class Prepared:
    """What a run computes once from the data and the base before any strategy starts."""

    config: TrainConfig
    backbone: object  # Backbone or TextEncoder
    features: object  # Features of every record, in dataset order
    latency_ms: float  # one input through the frozen base
    size_bytes: int


def _prepare_image(dataset: Dataset, config: TrainConfig, progress) -> Prepared:
    from ..backbones import DEFAULT_BACKBONE

    config = dataclasses.replace(config, backbone=config.backbone or DEFAULT_BACKBONE)
    if config.image_size is None:
        median = float(np.median(dataset.records[["width", "height"]].min(axis=1)))
        config = dataclasses.replace(config, image_size=auto_image_size(config.backbone, median))
    backbone = load_backbone(config.backbone, config.image_size)
    features = extract_features(dataset.files(), backbone, progress=progress, distribution=config.distribution)
    return Prepared(config, backbone, features, _base_latency_ms(backbone),
                    sum(w.nbytes for w in backbone.extractor.get_weights()))


def _prepare_text(dataset, config: TrainConfig, progress) -> Prepared:
    from ..backbones.text import DEFAULT_TEXT_BACKBONE, load_text_encoder
    from ..text.embed import embed_texts

    config = dataclasses.replace(config, backbone=config.backbone or DEFAULT_TEXT_BACKBONE, image_size=None)
    encoder = load_text_encoder(config.backbone)
    features = embed_texts(dataset.texts(), encoder, progress=progress)
    sample = dataset.texts("val")[:32] or dataset.texts()[:32]
    encoder.forward_graph(*_padded_sample(encoder, sample))  # trace once before timing
    start = time.perf_counter()
    encoder.forward_graph(*_padded_sample(encoder, sample))
    latency = 1000 * (time.perf_counter() - start) / len(sample)
    return Prepared(config, encoder, features, latency, sum(w.nbytes for w in encoder.model.get_weights()))


def _padded_sample(encoder, texts: list[str]):
    from ..text.embed import padded

    return padded(encoder.token_ids(texts))


PREPARE = {"image": _prepare_image, "text": _prepare_text}


@dataclass(frozen=True, eq=False)
class RunResult:
    run_dir: Path
    leaderboard: pd.DataFrame
    selected: Candidate
    test: Evaluation
    per_strategy: dict[str, Evaluation]
    report: dict
    candidates: list[Candidate]
    backbone: object  # the shared Backbone the features came from
    dataset: Dataset


def _strategies(requested: tuple[str, ...], modality: str) -> list[str]:
    names = list(STRATEGY_NAMES) if "all" in requested else list(dict.fromkeys(requested))
    for name in names:
        if name not in STRATEGY_NAMES:
            raise UnknownNameError("strategy", name, [*STRATEGY_NAMES, "all"])
    return names


def train(
    dataset: Dataset,
    config: TrainConfig = TrainConfig(),
    workspace: Path | None = None,
    *,
    run_id: str | None = None,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Train `config.strategies` on `dataset` within `config.budget_seconds`; see the module docstring.

    With `run_id` of an earlier, interrupted run, its folder is reused and the head search resumes.
    """
    started = time.monotonic()
    # Strategies share 95% of the budget; the rest is kept for what cannot stop at a deadline:
    # predicting validation and test images, evaluating and writing the run folder.
    end = started + (1 - FINISHING_SHARE) * config.budget_seconds
    names = _strategies(config.strategies, dataset.modality)
    from ..distribute import STRATEGIES as DISTRIBUTIONS

    if config.distribution not in DISTRIBUTIONS:
        raise UnknownNameError("distribution strategy", config.distribution, list(DISTRIBUTIONS))
    if not (math.isfinite(config.budget_seconds) and config.budget_seconds > 0):
        raise SettingError(f"budget_seconds must be a positive number of seconds; got {config.budget_seconds}")
    run_dir = runs.open_run(Path(workspace or "."), run_id, run_request(dataset, config))
    runs.set_status(run_dir, "running", strategies=names)
    with runs.Heartbeat(run_dir):
        try:
            result = _run(dataset, config, run_dir, names, started, end, progress)
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
    names = _strategies(config.strategies, dataset.modality)
    return {"split_hash": dataset.split_hash(), "config": dataclasses.asdict(config), "strategies": names}


def _run(dataset, config: TrainConfig, run_dir: Path, names: list[str], started: float, end: float,
         progress) -> RunResult:
    dataset.save(run_dir / "dataset")
    prepared = PREPARE[dataset.modality](dataset, config, progress)
    config = prepared.config
    runs.write_json(run_dir / "config.json", dataclasses.asdict(config) | {"strategies": names})
    splits = dataset.records["split"].to_numpy(dtype=object)
    features = {s: _rows(prepared.features, splits == s) for s in ("train", "val", "test")}
    labels = {s: dataset.labels(s) for s in ("train", "val", "test")}
    ctx = Context(dataset, config, prepared.backbone, features, labels, run_dir, end, prepared.latency_ms,
                  prepared.size_bytes, progress)  # fmt: skip

    registry = strategies_for(dataset.modality)
    candidates: list[Candidate] = []
    for index, name in enumerate(names):
        runner, weight = registry[name]
        share = weight / sum(registry[n][1] for n in names[index:])
        ctx.deadline = time.monotonic() + share * max(end - time.monotonic(), 0.0)
        report(progress, "strategies", index, len(names), f"training {name}")
        candidates += runner(ctx)
    ctx.deadline = end
    return _finish(ctx, candidates, names, time.monotonic() - started)


def _rows(features, mask: np.ndarray):
    from ..features import Features

    return Features(features.features[mask], features.logits[mask], features.key, features.from_cache)


def _base_latency_ms(backbone) -> float:
    """Milliseconds for one image through the frozen base (the cost every feature-based model pays)."""
    image = np.zeros((1, backbone.image_size, backbone.image_size, 3), np.uint8)
    backbone.forward_graph(image)  # trace and warm up
    start = time.perf_counter()
    for _ in range(5):
        backbone.forward_graph(image)
    return 1000 * (time.perf_counter() - start) / 5


def _finish(ctx: Context, candidates: list[Candidate], names: list[str], seconds: float) -> RunResult:
    if not candidates:
        raise SettingError("no model finished within the time budget; raise budget_seconds")
    y_val, y_test = ctx.labels["val"], ctx.labels["test"]
    temperatures = {id(c): fit_temperature(c.val_logits, y_val) if c.temperature_scaling else 1.0 for c in candidates}

    def rank(c: Candidate) -> tuple:  # validation only: accuracy, then calibrated loss, then speed
        loss = negative_log_likelihood(c.val_logits, y_val, temperatures[id(c)])
        return (-accuracy(c.val_logits, y_val), loss, c.latency_ms)

    ordered = sorted(candidates, key=rank)
    selected, chosen = strategy_choices(ordered, y_val)
    test_files = [str(p) for p in ctx.dataset.subset("test")["text" if ctx.dataset.modality == "text" else "path"]]
    per_strategy = {}
    for name in names:
        if name in chosen:
            best = chosen[name]
            per_strategy[name] = (best, evaluate(best.test_logits, y_test, ctx.dataset.classes,
                                                 temperatures[id(best)], test_files))
    evaluated = {id(c): e for c, e in per_strategy.values()}
    rows = [{
        "strategy": c.strategy, "model": c.name, "val_accuracy": accuracy(c.val_logits, y_val),
        "test_accuracy": evaluated[id(c)].accuracy if id(c) in evaluated else None,
        "macro_f1": evaluated[id(c)].macro_f1 if id(c) in evaluated else None,
        "train_seconds": round(c.train_seconds, 2), "size_bytes": int(c.size_bytes),
        "latency_ms": round(c.latency_ms, 3), "selected": c is selected,
    } for c in ordered]  # fmt: skip
    leaderboard = pd.DataFrame(rows)
    test = evaluated[id(selected)]
    _save_models(ctx, candidates)
    report_json = {
        "run_dir": str(ctx.run_dir),
        "strategy": names[0] if len(names) == 1 else "all",
        "strategies": names,
        "modality": ctx.dataset.modality,
        "backbone": ctx.backbone.spec.name,
        "image_size": ctx.config.image_size,
        "split_hash": ctx.dataset.split_hash(),
        "source": ctx.dataset.source,
        "classes": list(ctx.dataset.classes),
        "seconds": round(seconds, 1),
        "budget_seconds": ctx.config.budget_seconds,
        "leaderboard": rows,
        "selected": {"strategy": selected.strategy, "model": selected.name, "params": _plain(selected.params),
                     "temperature": test.temperature},
        "test": test.to_dict(),
        "per_strategy": {n: {"model": c.name, "accuracy": e.accuracy, "macro_f1": e.macro_f1}
                         for n, (c, e) in per_strategy.items()},
        "misclassified": test.misclassified,
    }  # fmt: skip
    runs.write_atomic(ctx.run_dir / "leaderboard.csv", leaderboard.to_csv(index=False))
    runs.write_json(ctx.run_dir / "report.json", report_json)
    return RunResult(ctx.run_dir, leaderboard, selected, test, {n: e for n, (_, e) in per_strategy.items()},
                     report_json, ordered, ctx.backbone, ctx.dataset)


def strategy_choices(ordered: list[Candidate], y_val: np.ndarray) -> tuple[Candidate, dict[str, Candidate]]:
    """The run's selected model, and one model per strategy to report, the selected one among them.

    Each strategy is represented by its own one-standard-error choice, except the selected model's
    strategy, which the selected model represents: a strategy whose best is below the run's best
    has a looser threshold, so its own choice could be a simpler model the run did not select.
    """
    selected = one_standard_error_choice(ordered, y_val)
    chosen = {}
    for name in dict.fromkeys(c.strategy for c in ordered):
        of_strategy = [c for c in ordered if c.strategy == name]
        chosen[name] = selected if name == selected.strategy else one_standard_error_choice(of_strategy, y_val)
    return selected, chosen


def one_standard_error_choice(ordered: list[Candidate], y_val: np.ndarray) -> Candidate:
    """The simplest model whose validation accuracy is within one standard error of the best.

    Validation sets are small (37 images for hymenoptera), so a more complex model that scores a
    point higher on them has often only been lucky; Breiman's one-standard-error rule keeps the
    simpler one unless the difference is larger than the measurement's own noise. The standard
    error uses the Agresti-Coull estimate (two successes and two failures added), which stays
    honest near 100%, where the plain p(1 - p) / n would claim no noise at all.
    """
    n = len(y_val)
    best = accuracy(ordered[0].val_logits, y_val)
    adjusted = (best * n + 2) / (n + 4)
    error = float(np.sqrt(adjusted * (1 - adjusted) / n))
    eligible = [c for c in ordered if accuracy(c.val_logits, y_val) >= best - error]
    return min(eligible, key=lambda c: c.complexity)  # min() keeps the first (best ranked) among equals


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
