"""The final bundle with and without its TFLite copies, from the call to `train` to a downloadable zip.

Until 2026-12-05 every image run's final bundle held two TFLite conversions (float32 and int8) with their
check; now the final bundle holds the Keras model and the copies are added on request
(`tlcore.export.add_tflite`). For each set and way, one run (`tlcore.deliver.train_and_bundle`, as the CLI
and a job call it, in this one process), then the same run's bundle written both ways, alternately
(`--repeats` times): the Keras bundle (what the user now waits for) and the Keras bundle followed by the
copies (the plain baseline: what they waited for before). Printed per run: the run's own seconds to its
final bundle, each bundle's median seconds, and the user's time from the call to the download both ways
(the run's figure, and that figure with the copies' extra time), with the ratio.

    .venv/bin/python benchmarks/bench_bundle.py [--sets shapes,hymenoptera] [--ways extract,finetune]
        [--budget 120] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
sys.path.insert(0, str(REPO))


def source(name: str) -> Path:
    """A built-in sample (shapes, digits) or a shared image set."""
    from tlcore.samples import sample_path

    return sample_path(name) if name in ("shapes", "digits") else SHARED / name


def seconds_of(result, **options) -> float:
    """Seconds to write `result`'s bundle with `options` (`tflite=True`: with the copies)."""
    from tlcore.export import export_bundle

    watch = time.perf_counter()
    export_bundle(result, **options)
    return time.perf_counter() - watch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="shapes,hymenoptera")
    parser.add_argument("--ways", default="extract,finetune")
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-bundle-"))
    os.environ["TRANSFERLAB_HOME"] = str(scratch / "home")

    from tlcore.data import import_data
    from tlcore.deliver import train_and_bundle
    from tlcore.train import TrainConfig

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'cpu'}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; budget {args.budget:g} s")
    print(f"{'set':12} {'way':9} {'selected':9} {'run to bundle s':>15} {'keras s':>8} {'+tflite s':>9} "
          f"{'user s now':>10} {'user s before':>13} {'ratio':>6}")
    totals = {"now": 0.0, "before": 0.0}
    for name in args.sets.split(","):
        if not source(name).exists():
            print(f"{name}: not found ({source(name)}), skipped")
            continue
        dataset = import_data(source(name), scratch / f"ws-{name}")
        for way in args.ways.split(","):
            config = TrainConfig(strategies=(way,), budget_seconds=args.budget)
            done = train_and_bundle(dataset, config, scratch / f"ws-{name}")
            keras_only, with_copies = [], []
            for _ in range(args.repeats):  # alternately, so a slower spell of the machine hits both
                keras_only.append(seconds_of(done.result))
                with_copies.append(seconds_of(done.result, tflite=True))
            keras_s, copies_s = statistics.median(keras_only), statistics.median(with_copies)
            now = done.seconds_to_final_bundle
            before = now - keras_s + copies_s
            totals["now"] += now
            totals["before"] += before
            print(f"{name:12} {way:9} {done.result.selected.strategy:9} {now:15.1f} {keras_s:8.2f} {copies_s:9.2f} "
                  f"{now:10.1f} {before:13.1f} {before / now:6.2f}", flush=True)
    if totals["now"]:
        ratio = totals["before"] / totals["now"]
        print(f"in all: the user's time from the call to the download {totals['now']:.1f} s now against "
              f"{totals['before']:.1f} s with the copies in every bundle (ratio {ratio:.2f})")


if __name__ == "__main__":
    main()
