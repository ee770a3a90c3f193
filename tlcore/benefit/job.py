"""What transfer saved, for a finished run: measured, then written beside the run's report (issue 33).

The background job (`jobs.submit_benefit`, task "benefit") and `train --compare-scratch` / `--learning-curve` both
call `run_benefit`; the Results page asks `plan_for_run` how long it will take before it submits the job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..progress import ProgressCallback
from . import Estimate, for_run_folder, measure_benefit, needed_seconds, train_scratch
from .config import BenefitConfig

REPORT_KEY = "benefit"  # the run's report.json key (issue 33's shape: {scratch, curve, more_data, ...})
RESULT_FILE = "benefit.json"  # the same, in the job's own folder `<run>/benefit/`
JOB_FOLDER = "benefit"  # `jobs.BENEFIT_DIR`; repeated here so the library does not import the job queue
PAGE_BUDGET_SECONDS = BenefitConfig().budget_seconds  # the page's budget, unless the comparison needs more


@dataclass(frozen=True)
class Plan:
    """The time the comparison of a run needs here and the budget the page gives it."""

    needed: Estimate
    budget_seconds: float


def needed_for_run(run_dir: Path, *, curve: bool = True, **overrides) -> Estimate:
    """The least time `run_benefit` needs for this run's data, way and settings on this machine."""
    dataset, config = for_run_folder(Path(run_dir), PAGE_BUDGET_SECONDS, **overrides)
    return needed_seconds(dataset, config, curve=curve)


def plan_for_run(run_dir: Path) -> Plan:
    """What the page offers: the whole comparison with the page's budget, or the least it needs if more.

    Why a floor above the least: the no-transfer network improves with time, and a comparison against a network
    that got only its minimum epochs would flatter transfer; the texts' fits end long before it anyway.
    """
    needed = needed_for_run(run_dir)
    return Plan(needed, float(max(needed.seconds, PAGE_BUDGET_SECONDS)))


def run_benefit(run_dir: Path, budget_seconds: float, progress: ProgressCallback | None = None, *,
                curve: bool = True, **overrides) -> dict:
    """Measure what transfer saved for the complete run in `run_dir` within `budget_seconds`, and keep it.

    With `curve` the whole comparison (`measure_benefit`); without, the no-transfer model alone
    (`train_scratch`: the key then holds `scratch` only). The result goes into the run's `report.json` under
    `benefit` (every other key kept, written atomically) and into `<run>/benefit/benefit.json`, and the line it
    adds to the model card into the run's bundle, if it has one. A budget too small is refused (`BudgetError`,
    with the time needed) before anything trains. Returns the stored dict.
    """
    from .. import runs
    from ..export import add_benefit_to_card

    run_dir = Path(run_dir)
    dataset, config = for_run_folder(run_dir, budget_seconds, **overrides)
    if curve:
        found = measure_benefit(dataset, config, progress=progress).to_dict()
    else:
        found = {"scratch": train_scratch(dataset, config, progress=progress).to_dict()}
    report = runs.read_json(run_dir / "report.json")  # read again: it may have changed while this ran
    runs.write_json(run_dir / "report.json", report | {REPORT_KEY: found})
    runs.write_json(run_dir / JOB_FOLDER / RESULT_FILE, found)
    add_benefit_to_card(run_dir, found)
    return json.loads(json.dumps(found))  # what a reader of the file gets (tuples as lists)
