"""A worker's heap frozen between jobs (`tlcore.heap.settle`) against the plain process, in one process.

A worker keeps its imports and the bases it loaded for its whole life, and every full collection of
the cyclic garbage collector walks them again. As a worker that has served other sets: this script
first runs the predict way of the shared image sets (default hymenoptera, mnist100, eurosat200;
each loads the base at its own size), then trains one set's way (default: the digits sample's
extract, whose head search builds many small Keras models) `--draws` times each way, alternating:
plain (everything thawed and collected first, as before) and settled (`heap.settle()` first, as a
worker now does between jobs). Printed per run: its seconds to the final bundle (its own clock,
`seconds_to_final_bundle`), the seconds the collector spent per generation during it
(`gc.callbacks`), and the objects the collector tracks; then the medians and their ratio.

    .venv/bin/python benchmarks/bench_heap.py [--set digits] [--way extract] [--draws 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
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


class Collector:
    """Seconds the cyclic collector spends, per generation (its own callbacks around each collection)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="digits", help="a sample's name or a folder under ../shared/datasets")
    parser.add_argument("--way", default="extract", choices=("predict", "extract", "finetune"))
    parser.add_argument("--before", default="hymenoptera,mnist100,eurosat200", help="sets served first (predict)")
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--budget", type=float, default=180.0)
    args = parser.parse_args()
    os.environ["TRANSFERLAB_HOME"] = tempfile.mkdtemp(prefix="bench-heap-")
    from tlcore import heap
    from tlcore.analysis import analyze
    from tlcore.data import import_data
    from tlcore.deliver import train_and_bundle
    from tlcore.samples import SAMPLES, sample_path
    from tlcore.threads import limit_blas_threads
    from tlcore.train import TrainConfig

    limit_blas_threads()  # as a worker
    collector = Collector()
    home = Path(os.environ["TRANSFERLAB_HOME"])
    print(f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"Python {platform.python_version()}; {args.set} {args.way} after {args.before}", flush=True)

    def run(source: Path, way: str, tag: str, ready=None) -> float:
        workspace = home / f"ws-{tag}"
        dataset = import_data(source, workspace)
        analysis = analyze(dataset)  # its own job in the app: what follows is the training job's
        config = dataclasses.replace(TrainConfig.from_analysis(analysis, budget_seconds=args.budget),
                                     strategies=(way,), budget_seconds=args.budget)
        if ready is not None:
            ready()
        before = list(collector.seconds)
        done = train_and_bundle(dataset, config, workspace, started=time.monotonic())
        spent = [round(after - was, 2) for after, was in zip(collector.seconds, before, strict=True)]
        print(f"  {tag:>10} {source.name} {way}: {done.seconds_to_final_bundle:6.1f} s, test "
              f"{done.result.test.accuracy:.1%}, collector seconds by generation {spent}, objects tracked "
              f"{len(gc.get_objects())}, frozen {gc.get_freeze_count()}", flush=True)
        return done.seconds_to_final_bundle

    def thawed() -> None:  # the same start as a settled run, with its whole heap walked by every full collection
        gc.unfreeze()
        gc.collect()

    for name in filter(None, args.before.split(",")):
        if (SHARED / name).is_dir():
            run(SHARED / name, "predict", f"before-{name}")
    source = sample_path(args.set) if args.set in SAMPLES else SHARED / args.set
    timed = {"plain": [], "settled": []}
    for draw in range(args.draws):
        for kind in ("plain", "settled") if draw % 2 == 0 else ("settled", "plain"):
            ready = heap.settle if kind == "settled" else thawed
            timed[kind].append(run(source, args.way, f"{kind}-{draw + 1}", ready))
    plain, settled = statistics.median(timed["plain"]), statistics.median(timed["settled"])
    print(f"median seconds to the final bundle: plain {plain:.1f} ({', '.join(f'{t:.1f}' for t in timed['plain'])}),"
          f" settled {settled:.1f} ({', '.join(f'{t:.1f}' for t in timed['settled'])}); ratio plain/settled "
          f"{plain / settled:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
