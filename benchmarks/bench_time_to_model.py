"""Time to a first good model and to the final one: anytime training against a fixed budget, in the same process.

For each dataset (hymenoptera, eurosat200, and a 1,000-image zip this script builds from 500
eurosat200 tiles and 500 mnist100 digits, 10 classes), `train --strategy extract` twice, each
from a cold start (its own workspace and an empty feature cache), timed from the call, import
included, to each bundle written:

- plain: today's behaviour before anytime training, the default 600 s budget, every stage run
  (`stop_early=False`), one bundle at the end;
- anytime: the same settings with the first model's bundle built as soon as it exists and the
  stages that cannot pay skipped.

Printed per dataset: seconds to the features, to the first bundle (and after the features) and to
the final bundle, the test accuracy of each, and the ratio of the plain run's time to its bundle
over the anytime run's time to its final bundle. Targets (issue 20): first bundle of the 1,000-
image zip <= 20 s after its features and <= 30 s from the call; final bundle within one test
image of the plain run's accuracy, in at most half its time.

    .venv/bin/python benchmarks/bench_time_to_model.py
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tlcore.data import import_data  # noqa: E402
from tlcore.export import export_bundle  # noqa: E402
from tlcore.train import TrainConfig, train  # noqa: E402

MIXED = "mixed1000"


def build_mixed_zip(root: Path, destination: Path) -> Path:
    """500 satellite tiles (100 of each of 5 eurosat200 classes) and 500 digits (100 of each of 5), class folders."""
    archive = destination / f"{MIXED}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("eurosat200", "mnist100"):
            by_class: dict[str, list[Path]] = {}
            for path in sorted(p for p in (root / name).rglob("*") if p.suffix in (".jpg", ".png")):
                by_class.setdefault(path.parent.name, []).append(path)
            for label in sorted(by_class)[:5]:
                for path in by_class[label][:100]:
                    zf.write(path, f"{name}-{label}/{path.parent.parent.name}-{path.name}")
    return archive


def timed_run(source: Path, stop_early: bool) -> dict:
    """One cold `train --strategy extract` from the call to each bundle; seconds and test accuracies."""
    marks: dict[str, float] = {}
    home = Path(tempfile.mkdtemp(prefix="tl-time-"))
    os.environ["TRANSFERLAB_HOME"] = str(home)  # an empty feature cache: the features are computed, and timed
    started = time.perf_counter()

    def progress(p) -> None:
        if p.stage == "features" and p.done >= p.total and "features" not in marks:
            marks["features"] = time.perf_counter() - started

    def first(interim) -> None:
        export_bundle(interim, tflite=False)
        marks["first"] = time.perf_counter() - started
        marks["first_accuracy"] = interim.test.accuracy

    dataset = import_data(source, home / "workspace")
    config = TrainConfig(strategies=("extract",), stop_early=stop_early)
    result = train(dataset, config, home / "workspace", progress=progress, first_model=first if stop_early else None)
    export_bundle(result, tflite=False)
    marks["final"] = time.perf_counter() - started
    marks["final_accuracy"] = result.test.accuracy
    marks["model"] = result.selected.name
    marks["test_items"] = len(result.dataset.labels("test"))
    marks["skipped"] = [s["skipped"] for s in result.report["anytime"]["stopped_early"]]
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", default=["hymenoptera", "eurosat200", MIXED])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; extract, default 600 s budget, cold feature cache")
    scratch = Path(tempfile.mkdtemp(prefix="tl-time-src-"))
    ratios = []
    for name in args.datasets:
        source = build_mixed_zip(args.root, scratch) if name == MIXED else args.root / name
        plain = timed_run(source, stop_early=False)
        anytime = timed_run(source, stop_early=True)
        one_item = 1 / anytime["test_items"]
        ratio = plain["final"] / anytime["final"]
        ratios.append(ratio)
        print(f"\n{name} ({anytime['test_items']} test items)")
        print(f"  plain:   features {plain['features']:.1f} s, bundle {plain['final']:.1f} s, "
              f"test {plain['final_accuracy']:.1%} ({plain['model']})")
        print(f"  anytime: features {anytime['features']:.1f} s, first bundle {anytime['first']:.1f} s "
              f"({anytime['first'] - anytime['features']:.1f} s after the features, test "
              f"{anytime['first_accuracy']:.1%}), final bundle {anytime['final']:.1f} s, test "
              f"{anytime['final_accuracy']:.1%} ({anytime['model']}); skipped: {', '.join(anytime['skipped']) or '-'}")
        print(f"  final accuracy within one test item of plain: "
              f"{abs(anytime['final_accuracy'] - plain['final_accuracy']) <= one_item + 1e-9}; "
              f"ratio plain/anytime time to the final bundle: {ratio:.2f}")
    print(f"\nratio plain/anytime, time to the final bundle, mean over datasets: {sum(ratios) / len(ratios):.2f}")


if __name__ == "__main__":
    main()
