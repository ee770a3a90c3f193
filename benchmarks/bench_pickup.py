"""How long a job waits for an idle worker: huey's own polling against TransferLab's (`jobs.POLL_SECONDS`).

An idle huey worker asks the queue for work less and less often (0.1 s, then 1.15 times longer each time, up to
10 s), so a job submitted after a quiet spell waits for the worker's next ask. Two consumers on two SQLite queues
run side by side in this process: one with huey's defaults (the plain baseline, what `serve` ran before), one with
`max_delay=jobs.POLL_SECONDS` (what `tlcore worker` runs). Each is left idle for a while, then given a job that
records when it started; printed per idle spell: seconds from submit to start for each, and the ratio.

    .venv/bin/python benchmarks/bench_pickup.py [--idle 5,30,90]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from huey import SqliteHuey  # noqa: E402

from tlcore.jobs import POLL_SECONDS  # noqa: E402


class Queue:
    """A SQLite queue with one idle worker thread, and a job that records when it started."""

    def __init__(self, folder: Path, name: str, **consumer_options) -> None:
        self.huey = SqliteHuey(name, filename=str(folder / f"{name}.db"))
        self.stamp = self.huey.task()(time.time)
        self.consumer = self.huey.create_consumer(workers=1, worker_type="thread", periodic=False, **consumer_options)
        self.consumer.start()  # in the main thread: huey sets its signal handlers here

    def pickup_seconds(self, idles: list[float]) -> list[float]:
        """For each idle spell: seconds from submitting a job to its start on the worker, idle that long."""
        waits = []
        for idle in idles:
            time.sleep(idle)
            submitted = time.time()
            waits.append(self.stamp()(blocking=True, timeout=60) - submitted)
        return waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", default="5,30,90", help="idle spells before each job, in seconds")
    args = parser.parse_args()
    idles = [float(x) for x in args.idle.split(",")]
    print(f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; idle spells {idles} s; "
          f"TransferLab's max_delay {POLL_SECONDS} s, huey's default 10 s", flush=True)
    found: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pickup-") as scratch:
        queues = {"huey defaults": Queue(Path(scratch), "plain"),
                  "TransferLab": Queue(Path(scratch), "ours", max_delay=POLL_SECONDS)}
        threads = [threading.Thread(target=lambda n=n, q=q: found.__setitem__(n, q.pickup_seconds(idles)))
                   for n, q in queues.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for queue in queues.values():
            queue.consumer.stop(graceful=True)
    print(f"\n{'idle before the job':>20} {'huey defaults':>14} {'TransferLab':>12} {'ratio':>7}")
    for idle, plain, ours in zip(idles, found["huey defaults"], found["TransferLab"], strict=True):
        print(f"{idle:>18.0f} s {plain:>12.2f} s {ours:>10.2f} s {plain / max(ours, 1e-3):>7.1f}")
    total = sum(found["huey defaults"]), sum(found["TransferLab"])
    print(f"\nin all: {total[0]:.2f} s against {total[1]:.2f} s waiting for an idle worker "
          f"(ratio {total[0] / max(total[1], 1e-3):.1f})")


if __name__ == "__main__":
    main()
