"""The advice in points and minutes against what each way measured, from the click to the final bundle (issue 32).

For each set: import it into a fresh workspace, `analyze` it once per aim (good and fast, the best
accuracy; the analysis times this machine, `tlcore.costs`, and says each way's expected wall
time), then train each way alone as a user who presses Train after the analysis
(`tlcore.deliver.train_and_bundle`, one process like a warm worker, with its one BLAS thread, the
same budget for each), timed from the call to its final bundle. The accuracy of a way is the test accuracy of the model
its run selected (what the user downloads: a run asked to fine-tune keeps its first head where
fine-tuning did not beat it on validation).

Printed per set: each way's expected and measured seconds and their ratio, its test accuracy and
its first bundle's seconds after the features; the pick of each aim and of the plain rules; and
whether each pick meets the "good and fast" condition: within 1 point of the best way's test
accuracy, in at most 1.5 times the time of the fastest way within 1 point of the best. Then the
summary against the targets: every expected time within a factor 1.5 of the measured one; "good
and fast" meeting its condition on at least 90% of the sets and more often than always extract and
always fine-tune; every run's final bundle within 1.1 times the budget; every first bundle within
15 s of the features.

`tlcore.costs.HEADS_PER_FIT` and `HEADS_FLOOR` (the heads' time on cached features) were set on the
first run of this script on these sets: the extract rows' ratios are measured on the data they were
set on; the fine-tuning and predict rows' are not (their rates are timed by each analysis). A new
machine's first guesses (`START_GUESS`, `BUNDLE_GUESS`, `SEARCH_TRIALS`, ...: what runs take until
the machine has recorded its own) were set from `--fresh-each` on shapes, digits, support,
mnist100, sst2@150 and trec6@150; hymenoptera, eurosat200, sms_spam@150 and germeval2018@150 are
the sets they were not fitted on. The sets run in one `TRANSFERLAB_HOME` (or, with `--fresh-each`,
one each), so, as on a user's machine, later runs read what earlier runs recorded (bundles, starts,
searches).

    .venv/bin/python benchmarks/bench_advice_time.py [--budget 180] [--sets shapes,hymenoptera,...] [--draws 2]
        [--fresh-each]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
sys.path.insert(0, str(REPO))

WAYS = ("predict", "extract", "finetune")
WITHIN_POINTS, TIME_FACTOR = 1.0, 1.5
TIME_SLACK = 10.0  # seconds: with ties within chance, runs this close in time count as equally fast
TEXT_PER_CLASS = 150


def text_subset(source: Path, folder: Path, per_class: int, seed: int = 0) -> Path:
    """Up to `per_class` texts of each label (exact duplicates dropped), in a seeded order: a small labelled set."""
    import random

    with source.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    seen, by_label = set(), {}
    for row in rows:
        if row["text"] not in seen:
            seen.add(row["text"])
            by_label.setdefault(row["label"], []).append(row)
    picked = []
    for label in sorted(by_label):
        random.Random(f"{seed}:{label}").shuffle(by_label[label])
        picked += by_label[label][:per_class]
    path = folder / f"{source.stem}{per_class}.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows({"text": r["text"], "label": r["label"]} for r in picked)
    return path


def sources(folder: Path) -> dict[str, Path]:
    """The three samples, the shared image sets, and the shared text sets cut to a small labelled set each."""
    from tlcore.samples import sample_path

    found = {name: sample_path(name) for name in ("shapes", "digits", "support")}
    for name in ("hymenoptera", "eurosat200", "mnist100"):
        if (SHARED / name).is_dir():
            found[name] = SHARED / name
    for name in ("sst2", "sms_spam", "trec6", "germeval2018"):
        if (SHARED / "text" / f"{name}.csv").is_file():
            found[f"{name}@{TEXT_PER_CLASS}"] = text_subset(SHARED / "text" / f"{name}.csv", folder, TEXT_PER_CLASS)
    return found


def measure(name: str, source: Path, workspace: Path, budget: float) -> dict:
    """One set: the advice of each aim with its expected seconds, then each way trained and timed."""
    import dataclasses

    from tlcore import heap
    from tlcore.analysis import analyze, save_analysis
    from tlcore.data import import_data
    from tlcore.deliver import train_and_bundle
    from tlcore.train import TrainConfig

    dataset = import_data(source, workspace)
    advice = {}
    for aim in ("fast", "best"):
        analysis = analyze(dataset, aim=aim)
        advice[aim] = analysis.recommendation
    save_analysis(analysis, dataset)
    expected = advice["fast"].expected_seconds
    base = TrainConfig.from_analysis(analysis, budget_seconds=budget)
    ways = {}
    for way in (w for w in WAYS if w in expected):  # the ways the analysed base offers (a multilingual one: no tuning)
        config = dataclasses.replace(base, strategies=(way,), budget_seconds=budget)
        heap.settle()  # as a worker does between jobs (`tlcore.heap`); before 2026-12-05 15:10 UTC it did not
        started = time.monotonic()
        done = train_and_bundle(dataset, config, workspace, started=started)
        report = done.result.report
        truth = dataset.labels("test")
        ways[way] = {"accuracy": done.result.test.accuracy, "seconds": done.seconds_to_final_bundle,
                     "right": (done.result.selected.test_logits.argmax(axis=1) == truth).tolist(),
                     "expected": min(expected.get(way, float("nan")), budget),
                     "first_after_features": (done.seconds_to_first_bundle or float("nan"))
                     - (report.get("seconds_to_features") or 0.0),
                     "selected": f"{done.result.selected.strategy}/{done.result.selected.name}"}
        print(f"  {name} {way}: {ways[way]['accuracy']:.1%} in {ways[way]['seconds']:.1f} s (expected "
              f"{ways[way]['expected']:.1f} s), selected {ways[way]['selected']}", flush=True)
    return {"name": name, "ways": ways, "picks": {aim: a.strategy for aim, a in advice.items()}}


def as_good(best: dict, other: dict, paired: bool) -> bool:
    """Whether `other` is as good as `best` on the test split: within 1 point of it or, with `paired`, behind it by
    no more than chance explains on these test items (a paired test on the items only one of the two got right,
    at 95%: c - b <= 1.96 * sqrt(b + c), where c are the items only `best` got right and b only `other`)."""
    if 100 * (best["accuracy"] - other["accuracy"]) <= WITHIN_POINTS:
        return True
    if not paired:
        return False
    b = sum(o and not w for w, o in zip(best["right"], other["right"], strict=True))
    c = sum(w and not o for w, o in zip(best["right"], other["right"], strict=True))
    return c - b <= 1.96 * (b + c) ** 0.5


def meets(row: dict, way: str, paired: bool = False) -> bool:
    """Whether `way` is as good as the best way (`as_good`), in at most 1.5x the time of the fastest way as good
    as the best (with `paired`, or within `TIME_SLACK` seconds of it: a few seconds are within a run's own
    spread)."""
    ways = row["ways"]
    best = max(ways.values(), key=lambda w: w["accuracy"])
    good = {k: w for k, w in ways.items() if as_good(best, w, paired)}
    fastest = min(w["seconds"] for w in good.values())
    allowed = max(TIME_FACTOR * fastest, fastest + TIME_SLACK) if paired else TIME_FACTOR * fastest
    return way in good and ways[way]["seconds"] <= allowed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=180.0)
    parser.add_argument("--sets", default="", help="comma-separated names (default: all found)")
    parser.add_argument("--draws", type=int, default=1,
                        help="run the sets this many times in the same home: draws after the first are expected from "
                             "what this machine recorded for every kind (and show the spread of a second draw)")
    parser.add_argument("--fresh-each", action="store_true",
                        help="each set in a home of its own, so its first draw is a new machine's first run (with the "
                             "first guesses of tlcore.costs); later draws read only what that set's runs recorded")
    args = parser.parse_args()
    from tlcore.threads import limit_blas_threads

    limit_blas_threads()  # as a worker does (`tlcore.jobs`); the draws before 2026-12-06 04:00 UTC ran with two
    scratch = Path(tempfile.mkdtemp(prefix="bench-advice-time-"))
    found = sources(scratch)
    if args.sets:
        found = {k: v for k, v in found.items() if k in args.sets.split(",")}
    print(f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; budget {args.budget:.0f} s "
          f"per run; sets: {', '.join(found)}" + ("; a home per set" if args.fresh_each else ""), flush=True)
    try:
        for draw in range(1, args.draws + 1):
            rows = []
            for name, source in found.items():
                folder = name.replace("@", "_")
                # this machine's timings start empty, as on a new install
                os.environ["TRANSFERLAB_HOME"] = str(scratch / (f"home-{folder}" if args.fresh_each else "home"))
                rows.append(measure(name, source, scratch / f"ws{draw}" / folder, args.budget))
                if args.fresh_each:
                    print_recorded(name)
            print(f"\n# draw {draw} of {args.draws}" + (" (a fresh home)" if draw == 1 else
                                                         " (every kind recorded by the draws before)"))
            summarise(rows, args.budget)
            if not args.fresh_each:
                print_recorded("the sets so far")
            shutil.rmtree(scratch / f"ws{draw}", ignore_errors=True)
    finally:  # ten sets' workspaces, runs and bundles hold about 9 GB
        shutil.rmtree(scratch, ignore_errors=True)


def print_recorded(after: str) -> None:
    """What this machine recorded (medians), the figures the first guesses of `tlcore.costs` stand in for."""
    from tlcore import costs

    kept = ("start", *costs.GUESSES, "finish_scale", "search_in_trials")
    for key, entry in costs.recorded().items():
        figures = ", ".join(f"{what} {entry[what]:.3g}" for what in kept if what in entry)
        if figures:
            print(f"  recorded after {after}: {key}: {figures}", flush=True)


def summarise(rows: list[dict], budget: float) -> None:
    """The table of one draw, each policy's picks and the summary against the targets."""
    print("\nset              way       test acc  expected s  measured s  ratio  first bundle after features")
    ratios, overruns, firsts = [], [], []
    for row in rows:
        for way, w in row["ways"].items():
            ratio = w["seconds"] / w["expected"]
            ratios.append(ratio)
            overruns.append(w["seconds"] / budget)
            firsts.append(w["first_after_features"])
            print(f"{row['name']:<16} {way:<9} {w['accuracy']:>7.1%}  {w['expected']:>10.1f}  {w['seconds']:>10.1f}  "
                  f"{ratio:>5.2f}  {w['first_after_features']:>6.1f} s")
    policies = {"good and fast": lambda r: r["picks"]["fast"], "best accuracy": lambda r: r["picks"]["best"],
                "always extract": lambda r: "extract", "always fine-tune": lambda r: "finetune"}
    print("\npicks (a pick meets the condition when within 1 point of the best way, in at most 1.5x the time of "
          "the fastest such way):")
    met = {}
    for policy, pick in policies.items():
        met[policy] = [meets(r, pick(r)) for r in rows]
        picks = ", ".join(f"{r['name']} {pick(r)}{'' if ok else ' (no)'}" for r, ok in zip(rows, met[policy],
                                                                                              strict=True))
        print(f"  {policy:<16} {sum(met[policy])}/{len(rows)}: {picks}")
    print(f"\nthe same where a way behind the best by no more than chance explains on the set's test items counts as "
          f"good, and a way within {TIME_SLACK:.0f} s of the fastest as fast (paired test at 95%; test items per set: "
          + ", ".join(f"{r['name']} {len(next(iter(r['ways'].values()))['right'])}" for r in rows) + "):")
    for policy, pick in policies.items():
        ok = [meets(r, pick(r), paired=True) for r in rows]
        met[f"{policy}, paired"] = ok
        print(f"  {policy:<16} {sum(ok)}/{len(rows)}: "
              + ", ".join(f"{r['name']} {pick(r)}{'' if o else ' (no)'}" for r, o in zip(rows, ok, strict=True)))
    within = sum(1 / TIME_FACTOR <= r <= TIME_FACTOR for r in ratios)
    print(f"\nexpected time within a factor {TIME_FACTOR} of the measured: {within}/{len(ratios)} runs "
          f"(ratio measured/expected: min {min(ratios):.2f}, median {sorted(ratios)[len(ratios) // 2]:.2f}, "
          f"max {max(ratios):.2f})")
    print(f"final bundle within 1.1x the budget: {sum(o <= 1.1 for o in overruns)}/{len(overruns)} runs "
          f"(largest {max(overruns):.2f}x)")
    print(f"first bundle within 15 s of the features: {sum(f <= 15 for f in firsts)}/{len(firsts)} runs "
          f"(largest {max(firsts):.1f} s)")
    print("\npoints against minutes, each policy's picks over the sets (a way the base does not offer: extract): "
          "mean points behind the best way on test, and wall time to the final bundles in all")
    for policy, pick in policies.items():
        chosen = [r["ways"].get(pick(r)) or r["ways"]["extract"] for r in rows]
        behind = [100 * (max(w["accuracy"] for w in r["ways"].values()) - c["accuracy"])
                  for r, c in zip(rows, chosen, strict=True)]
        seconds = sum(c["seconds"] for c in chosen)
        print(f"  {policy:<16} {sum(behind) / len(rows):4.1f} points behind, {seconds:6.0f} s")
    fast, extract, tune = (sum(met[p]) for p in ("good and fast", "always extract", "always fine-tune"))
    print(f"ratio: good and fast meets its condition on {fast}/{len(rows)} sets; always extract {extract}, "
          f"always fine-tune {tune} (good and fast / always fine-tune = {fast / max(tune, 1):.2f})")
    fast, extract, tune = (sum(met[f"{p}, paired"]) for p in ("good and fast", "always extract", "always fine-tune"))
    print(f"ratio, ties within chance: good and fast {fast}/{len(rows)}; always extract {extract}, always fine-tune "
          f"{tune} (good and fast / always fine-tune = {fast / max(tune, 1):.2f})")


if __name__ == "__main__":
    main()
