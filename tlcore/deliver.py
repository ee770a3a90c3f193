"""From pressing Train to a bundle the user can download, within their budget: what the CLI and a job share.

The budget is the user's wall time. It counts from `started` (the command's start, or the job's
start, before the data is read), so reading the data, loading the base, the features, training,
the "none of my classes" detector, the bundle and the explanations of mistakes all fit in it:
training ends early enough to leave the bundle what it took on this machine last time
(`tlcore.costs`), and the explanations are made only when time is left (`transferlab explain`
makes them later). The first model's bundle is built while the run goes on, and its time is
measured from the same start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from . import costs, runs
from .errors import TLCoreError
from .modality import modality_of
from .progress import ProgressCallback, report

EXPLAIN_SECONDS = 5.0  # kept for the explanations of the most confident mistakes (a few Grad-CAM pictures)


@dataclass(frozen=True, eq=False)
class Delivered:
    """A finished run with its bundles and the user's wall times (seconds from `started`)."""

    result: object  # tlcore.train.RunResult
    bundle: Path | None  # None when the bundle could not be built (`bundle_error` says why)
    first_bundle: Path | None
    seconds_to_first_bundle: float | None
    seconds_to_final_bundle: float | None
    bundle_error: str = ""
    explained: str = ""  # "", or why the explanations are missing
    waited: float | None = None  # a job's seconds from being submitted to `started` (None: not a job)

    def wall(self) -> dict:
        """What the report says of the user's time."""
        return {"seconds_to_first_bundle": self.seconds_to_first_bundle,
                "seconds_to_final_bundle": self.seconds_to_final_bundle,
                "budget_seconds": self.result.report["budget_seconds"], "explanations": self.explained or "made"} | (
            {} if self.waited is None else {"seconds_waiting": round(self.waited, 1)})


def bundle_kind(strategies) -> str:
    """What a bundle's time is recorded under: a fine-tuned model's bundle saves a whole new base and takes longer
    than one that reuses the frozen base; a run that may fine-tune leaves room for the longer one."""
    return f"{costs.BUNDLE}:finetune" if {"finetune", "all"} & set(strategies) else costs.BUNDLE


def train_and_bundle(dataset, config, workspace: Path, *, run_id: str | None = None,
                     progress: ProgressCallback | None = None, started: float | None = None,
                     waited: float | None = None) -> Delivered:
    """`tlcore.train.train`, then the final bundle and the explanations, all within `config.budget_seconds` from
    `started` (a `time.monotonic()` reading; default now). The report gains `wall` (`Delivered.wall`), with
    `waited`, a job's seconds between being submitted and `started` (in the queue, a worker picking it up), so the
    user's time from pressing Train can be told."""
    from .explain import explain_run
    from .export import export_bundle
    from .train import train

    started = time.monotonic() if started is None else started
    modality = modality_of(dataset)
    choice = modality.resolve_base(dataset, config.backbone, config.image_size)
    kind = bundle_kind(config.strategies)
    bundle_seconds = costs.guessed(modality.name, choice.name, choice.image_size, kind)
    first: dict = {}

    def first_model(interim) -> None:  # usable while the run goes on
        watch = costs.Stopwatch()
        first["bundle"] = export_bundle(interim, tflite=False)
        costs.record(choice.name, choice.image_size, "first_bundle", watch.seconds)
        first["seconds"] = round(time.monotonic() - started, 1)

    result = train(dataset, config, workspace, run_id=run_id, progress=progress, first_model=first_model,
                   started=started, after_seconds=bundle_seconds + EXPLAIN_SECONDS)
    report(progress, "bundle", 0, 1, f"building the bundle (about {max(bundle_seconds, 1):.0f} s on this machine)")
    watch = costs.Stopwatch()
    bundle, bundle_error = None, ""
    try:
        bundle = export_bundle(result)
        costs.record(choice.name, choice.image_size, bundle_kind((result.selected.strategy,)), watch.seconds)
    except TLCoreError as error:  # the run stays complete; only its download is missing
        bundle_error = str(error)
    final = round(time.monotonic() - started, 1) if bundle else None
    explained = "no bundle" if bundle is None else ""
    if bundle is not None and not result.report.get("misclassified"):  # walk 8 read "explaining the mistakes" at 27
        explained = "none to make: no mistakes on the test split"  # of 27 right, while the bundle was loaded again
    elif bundle is not None:
        left = config.budget_seconds - (time.monotonic() - started)
        if left >= EXPLAIN_SECONDS:
            report(progress, "explain", 0, 1, "showing where the model looks in its most confident mistakes")
            try:
                explain_run(result, bundle, progress)
            except Exception as error:  # the run and its bundle are whole; only the pictures are missing
                explained = f"not made ({type(error).__name__}: {str(error)[:300]})"
        else:
            explained = (f"left out to keep the budget ({left:.0f} s were left); `transferlab explain` makes them "
                         "from the bundle")
    delivered = Delivered(result, bundle, first.get("bundle"), first.get("seconds"), final, bundle_error, explained,
                          waited)
    result.report["wall"] = delivered.wall()
    runs.write_json(result.run_dir / "report.json", result.report)
    return delivered
