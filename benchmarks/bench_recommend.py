"""Is the recommendation right? Regret of `analyze` against training every strategy.

For each shared dataset: `tlcore.analysis.analyze` recommends a strategy (before any training),
then `tlcore.train.train` runs all three with the recommended settings and measures each
strategy's best model on the same test split. Regret = best test accuracy - the recommended
strategy's, in points. The plain baselines, in the same run: always extract, always fine-tune.

A dataset written `NAME@N` is N images per class of NAME (the first N of each class's sorted files,
across its split folders), split afresh: fewer images per class make closer calls. With
`--pilot`, a close call (`tlcore.pilot.worth_a_pilot`) is analysed again with a pilot, and the
regret of following it is printed beside the plain recommendation's.

    .venv/bin/python benchmarks/bench_recommend.py [DATASET[@N] ...] [--budget-seconds N] [--pilot]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import dataclasses  # noqa: E402

from regret import STRATEGIES, best, regret, summarise  # noqa: E402  (benchmarks/regret.py)

from tlcore.analysis import analyze  # noqa: E402
from tlcore.image.data import import_dataset  # noqa: E402
from tlcore.pilot import worth_a_pilot  # noqa: E402
from tlcore.train import FinetuneConfig, TrainConfig, train  # noqa: E402

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def source_of(spec: str, root: Path, scratch: Path) -> Path:
    """The folder of NAME, or for NAME@N a copy of N images per class (class = the file's folder name)."""
    name, _, count = spec.partition("@")
    if not count:
        return root / name
    folder = scratch / spec.replace("@", "-")
    by_class: dict[str, list[Path]] = {}
    for path in sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        by_class.setdefault(path.parent.name, []).append(path)
    for label, files in by_class.items():
        (folder / label).mkdir(parents=True, exist_ok=True)
        for path in files[: int(count)]:
            shutil.copyfile(path, folder / label / f"{path.parent.parent.name}-{path.name}")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", default=["hymenoptera", "eurosat200", "mnist100"])
    parser.add_argument("--budget-seconds", type=float, default=1200)
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--pilot", action="store_true", help="also follow a pilot on close calls")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; budget {args.budget_seconds:.0f} s per dataset")
    header = f"{'dataset':<12} {'recommended':<11} " + " ".join(f"{s:>9}" for s in STRATEGIES) + \
        f" {'best':<9} {'regret':>6}"
    rows = []
    with tempfile.TemporaryDirectory() as workspace:
        for name in args.datasets:
            dataset = import_dataset(source_of(name, args.root, Path(workspace) / "sources"), Path(workspace))
            start = time.perf_counter()
            advice = analyze(dataset).recommendation
            analysis_seconds = time.perf_counter() - start
            piloted = advice
            if args.pilot and worth_a_pilot(advice.strategy, advice.confidence):
                piloted = analyze(dataset, pilot_in=Path(workspace)).recommendation
                print(f"{name}: pilot says {piloted.strategy}: {piloted.reasons[0]}", flush=True)
            settings = advice.settings
            finetune = dataclasses.replace(FinetuneConfig(), **{k: settings[k] for k in ("unfreeze_blocks",
                                                                                            "learning_rate")
                                                                  if k in settings})
            config = TrainConfig(strategies=STRATEGIES, image_size=settings["image_size"],
                                 budget_seconds=args.budget_seconds, finetune=finetune, stop_early=False)
            result = train(dataset, config, Path(workspace))
            scores = {s: result.report["per_strategy"][s]["accuracy"] for s in STRATEGIES}
            rows.append((name, advice.strategy, scores, best(scores), piloted.strategy))
            print(f"{name}: analysis {analysis_seconds:.0f} s, recommended {advice.strategy} "
                  f"(confidence {advice.confidence}), settings {settings}", flush=True)
    print(header + (f" {'piloted':<9} {'regret':>6}" if args.pilot else ""))
    for name, recommended, scores, chosen, piloted in rows:
        print(f"{name:<12} {recommended:<11} " + " ".join(f"{scores[s]:>9.1%}" for s in STRATEGIES) +
              f" {chosen:<9} {regret(scores, recommended):>6.1f}" +
              (f" {piloted:<9} {regret(scores, piloted):>6.1f}" if args.pilot else ""))
    summarise([(scores, recommended) for _, recommended, scores, _, _ in rows])
    if args.pilot:
        piloted_regrets = [regret(scores, piloted) for _, _, scores, _, piloted in rows]
        print(f"mean regret with a pilot on close calls: {sum(piloted_regrets) / len(rows):.1f} points "
              f"(max {max(piloted_regrets):.1f})")

if __name__ == "__main__":
    main()
