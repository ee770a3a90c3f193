"""Is the recommendation right? Regret of `analyze` against training every strategy.

For each shared dataset: `tlcore.analysis.analyze` recommends a strategy (before any training),
then `tlcore.train.train` runs all three with the recommended settings and measures each
strategy's best model on the same test split. Regret = best test accuracy - the recommended
strategy's, in points. The plain baselines, in the same run: always extract, always fine-tune.

    .venv/bin/python benchmarks/bench_recommend.py [DATASET ...] [--budget-seconds N]
"""

from __future__ import annotations

import argparse
import os
import platform
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
from tlcore.train import FinetuneConfig, TrainConfig, train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", default=["hymenoptera", "eurosat200", "mnist100"])
    parser.add_argument("--budget-seconds", type=float, default=1200)
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; budget {args.budget_seconds:.0f} s per dataset")
    header = f"{'dataset':<12} {'recommended':<11} " + " ".join(f"{s:>9}" for s in STRATEGIES) + \
        f" {'best':<9} {'regret':>6}"
    rows = []
    with tempfile.TemporaryDirectory() as workspace:
        for name in args.datasets:
            dataset = import_dataset(args.root / name, Path(workspace))
            start = time.perf_counter()
            advice = analyze(dataset).recommendation
            analysis_seconds = time.perf_counter() - start
            settings = advice.settings
            finetune = dataclasses.replace(FinetuneConfig(), **{k: settings[k] for k in ("unfreeze_blocks",
                                                                                            "learning_rate")
                                                                  if k in settings})
            config = TrainConfig(strategies=STRATEGIES, image_size=settings["image_size"],
                                 budget_seconds=args.budget_seconds, finetune=finetune, stop_early=False)
            result = train(dataset, config, Path(workspace))
            scores = {s: result.report["per_strategy"][s]["accuracy"] for s in STRATEGIES}
            rows.append((name, advice.strategy, scores, best(scores)))
            print(f"{name}: analysis {analysis_seconds:.0f} s, recommended {advice.strategy} "
                  f"(confidence {advice.confidence}), settings {settings}", flush=True)
    print(header)
    for name, recommended, scores, chosen in rows:
        print(f"{name:<12} {recommended:<11} " + " ".join(f"{scores[s]:>9.1%}" for s in STRATEGIES) +
              f" {chosen:<9} {regret(scores, recommended):>6.1f}")
    summarise([(scores, recommended) for _, recommended, scores, _ in rows])

if __name__ == "__main__":
    main()
