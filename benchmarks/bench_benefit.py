"""What transfer saved, measured (issue 33): the transferred model against the no-transfer baseline, per fraction.

For each shared image set (../shared/datasets: hymenoptera, eurosat200, mnist100) and text set
(../shared/datasets/text/*.csv, exact duplicates dropped, cut to 150 texts per class), `measure_benefit` retrains
the transferred model (a logistic regression on the frozen base's cached features) and the no-transfer baseline
(images: a small CNN from random initialisation; texts: TF-IDF n-grams with a logistic regression) on 10%, 25%,
50% and 100% of the training split, each tested once on the same test split. Printed: the test accuracy of each
with its 95% interval and the seconds each took, then per dataset the ratio of the transferred model's accuracy to
the no-transfer baseline's (run in the same process, on the same splits) and the data ratio: the smallest fraction
of the training split with which transfer reaches the baseline's full-data accuracy.

    .venv/bin/python benchmarks/bench_benefit.py [DATASET ...] [--image-budget S] [--text-budget S] [--per-class N]

Budgets are each dataset's whole comparison; a budget under what the comparison needs on this machine is raised
to that (and said). The no-transfer network gets at least 2 epochs per fraction and stops after 5 without a lower
validation loss.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from tlcore.benefit import BenefitConfig, ScratchConfig, measure_benefit, needed_seconds  # noqa: E402
from tlcore.data import import_data  # noqa: E402

SHARED = REPO.parent / "shared" / "datasets"
IMAGES = ("hymenoptera", "mnist100", "eurosat200")
TEXTS = ("sms_spam", "trec6", "sst2", "germeval2018")
BUDGETS = {"hymenoptera": 150.0, "mnist100": 220.0, "eurosat200": 300.0}  # seconds; texts: --text-budget
SCRATCH = ScratchConfig(min_epochs=2, patience=5)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    vector = "AVX-512" if "avx512f" in Path("/proc/cpuinfo").read_text() else "AVX2 or less"
    return f"{cpu}, {os.cpu_count()} cores, {vector}; {platform.system()} {platform.release()}, Python " \
           f"{platform.python_version()}"


def cut_texts(name: str, per_class: int, folder: Path) -> Path:
    """The table without exact duplicate texts, the first `per_class` rows of each label (the order is seeded)."""
    table = pd.read_csv(SHARED / "text" / f"{name}.csv").drop_duplicates("text")
    table = table.sample(frac=1.0, random_state=0).groupby("label", sort=True).head(per_class)
    path = folder / f"{name}.csv"
    table.to_csv(path, index=False)
    return path


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def measure(name: str, source: Path, workspace: Path, budget: float) -> dict | None:
    dataset = import_data(source, workspace)
    config = BenefitConfig(budget_seconds=budget, scratch=SCRATCH)
    needed = needed_seconds(dataset, config).seconds
    if needed > budget:
        print(f"  {name}: budget raised from {budget:g} s to the {needed:g} s it needs", flush=True)
        config = dataclasses.replace(config, budget_seconds=float(needed))
    start = time.monotonic()
    result = measure_benefit(dataset, config)
    wall = time.monotonic() - start
    print(f"\n### {name}: {len(dataset)} {dataset.modality}s, {len(dataset.classes)} classes, splits "
          f"{dataset.split_sizes()}, budget {config.budget_seconds:g} s, took {wall:.0f} s")
    trained = ", ".join(f"{k} {v}" for k, v in result.scratch.params.items() if k in ("epochs_run", "stopped", "C"))
    print(f"transfer: {result.transfer_model}; no transfer: {result.scratch.model} (all data: {trained})\n")
    print("| fraction | per class | transfer % [95%] | s | no transfer % [95%] | s |")
    print("|---|---|---|---|---|---|")
    for p in result.curve:
        if p.skipped:
            print(f"| {p.fraction:.0%} | {p.per_class} | skipped: {p.skipped} | | | |")
            continue
        print(f"| {p.fraction:.0%} | {p.per_class} | {percent(p.accuracy)} [{percent(p.low)}-{percent(p.high)}] | "
              f"{p.seconds:.1f} | {percent(p.scratch_accuracy)} [{percent(p.scratch_low)}-{percent(p.scratch_high)}]"
              f" | {p.scratch_seconds:.1f} |")
    print(f"\n{result.summary} {result.more_data}", flush=True)
    full = result.transfer
    return {"dataset": name, "transfer": full.accuracy, "scratch": result.scratch.accuracy,
            "ratio": full.accuracy / result.scratch.accuracy if result.scratch.accuracy else math.inf,
            "data_ratio": result.data_ratio, "transfer_s": sum(p.seconds for p in result.curve),
            "scratch_s": sum(p.scratch_seconds for p in result.curve), "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", default=[*TEXTS, *IMAGES])  # the quick ones first
    parser.add_argument("--image-budget", type=float, default=None, help="seconds per image set (default per set)")
    parser.add_argument("--text-budget", type=float, default=30.0)
    parser.add_argument("--per-class", type=int, default=150, help="texts kept per class")
    args = parser.parse_args()
    print(f"# bench_benefit: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n{machine()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-benefit-") as temp:
        temp = Path(temp)
        for name in args.datasets:
            if name in IMAGES:
                source, budget = SHARED / name, args.image_budget or BUDGETS[name]
            else:
                if not (SHARED / "text" / f"{name}.csv").is_file():
                    print(f"  {name}: skipped, {SHARED / 'text' / name}.csv is absent")
                    continue
                source, budget = cut_texts(name, args.per_class, temp), args.text_budget
            if not source.exists():
                print(f"  {name}: skipped, {source} is absent")
                continue
            rows.append(measure(name, source, temp / "ws", budget))
    print("\n### Summary: all of the training split, against the no-transfer baseline run in the same process\n")
    print("| dataset | transfer % | no transfer % | accuracy ratio | data ratio | transfer s (4 fits) | "
          "no transfer s (4 fits) | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = "-" if r["data_ratio"] is None else f"{r['data_ratio']:.0%}"
        print(f"| {r['dataset']} | {percent(r['transfer'])} | {percent(r['scratch'])} | {r['ratio']:.2f} | {ratio} | "
              f"{r['transfer_s']:.1f} | {r['scratch_s']:.1f} | {r['wall']:.0f} |")
    print("\ndata ratio: the smallest fraction of the training split (of 10/25/50/100%) with which the transferred "
          "model reaches the no-transfer baseline's accuracy on all of it; '-': it never does.")


if __name__ == "__main__":
    main()
