"""The recommendation's calibration set: variants of every image set available offline, each measured and trained.

A variant is written `ORIGIN[/K][@N][~PX][:grouped]`: the first K classes (sorted names) of ORIGIN, the
first N images of each class (sorted files, across split folders; split afresh), at PX pixels (default:
the size the analysis picks); `:grouped` (origins whose file names start with their family's key:
`units`, `glyphs`) puts each family in a sub-folder, so the import keeps it whole in one split.
ORIGIN is a folder of `../shared/datasets`, a generated set: `digits` (scikit-learn's 1,797
handwritten digits) or `shapes` (the built-in drawn shapes, 160 per class), or a set fetched from a
package registry (`benchmarks/origins.py`: `emoji`, `stamps`, `icons`, `glyphs`, `fashion`,
`units`). A variant learns from its N images per class (or all but 60 for `/K` alone) and is
tested on up to 60 others of each class. Leave-one-dataset-out holds out every variant of one
ORIGIN at once.

Texts (`--texts`, table `texts.csv`): ORIGIN is a table of `../shared/datasets/text` (`sms_spam`,
`sst2`, `trec6`, `germeval2018`) or of a package registry (`benchmarks/origins.py`: `fortune_en`,
`_de`, `_es`, `_it`, `_ru`, `_pl`, `_cs`, `_bg`, `_zh`, `_pt`, `debian_en` and `manpages_fr`); its texts are
de-duplicated and shuffled (seed 0), each class keeps up to TEXT_TEST_PER_CLASS (at most a quarter
of it) for the test and learns from the first N of the rest.

For each variant one row holds what the recommendation sees before training (the modality's own
measures) and what training found afterwards: every strategy's test accuracy, validation accuracy
and seconds, from one `train` of all three (`stop_early=False`, the same budget for all), with the
fine-tuning settings the analysis would give. The CSV is rewritten after each row, so a long
collection can be stopped and resumed.

`--pilot` adds to every row that lacks them what the analysis's pilot (`tlcore.pilot`, as
`analyze --pilot` runs it) measured on the variant's validation split: `pilot_extract`,
`pilot_finetune`, `pilot_seconds`, `pilot_winner` ("none" where the analysis says predict, since no
pilot is offered there), so the benchmark can score the recommendation with the pilot deciding.

    .venv/bin/python benchmarks/calibration.py [SPEC ...] [--texts] [--table PATH] [--budget-seconds N] [--pilot]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
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

from origins import origin_path  # noqa: E402  (benchmarks/origins.py)

from tlcore.data import SplitConfig, import_data  # noqa: E402
from tlcore.modality import modality_of  # noqa: E402
from tlcore.pilot import run_pilot  # noqa: E402
from tlcore.strategy import recommend  # noqa: E402
from tlcore.train import FinetuneConfig, TrainConfig, train  # noqa: E402

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
STRATEGIES = ("predict", "extract", "finetune")
TABLE = REPO / "benchmarks" / "calibration" / "images.csv"
TEXT_TABLE = TABLE.with_name("texts.csv")
# What the product's fit reads: the first table, the variants collected to check it, then three rounds
# of origins fetched from package registries (`benchmarks/origins.py`). `images_origins4.csv` (fashion)
# and `images_origins5.csv` (units) were collected after the last refit, to check it, and are in no fit.
IMAGE_TABLES = tuple(TABLE.with_name(name) for name in (
    "images.csv", "images_check.csv", "images_origins.csv", "images_origins2.csv", "images_origins3.csv"))
TEXT_TABLES = (TEXT_TABLE, TABLE.with_name("texts_origins.csv"))
TEST_PER_CLASS = 60  # a variant's test images per class, none of them among those it learns from
TEXT_TEST_PER_CLASS = 150  # texts are cheap to score, and the strategies' differences are small
# Small variants first, so an interrupted collection still covers the plane's corners.
DEFAULT_SPECS = (
    "hymenoptera@25", "eurosat200@10", "mnist100@10", "digits@25", "shapes@25", "eurosat200/5@25",
    "mnist100/5@25", "hymenoptera@50", "eurosat200@25", "digits@50", "eurosat200@50", "mnist100@50",
    "hymenoptera@100", "shapes@100", "hymenoptera~128", "eurosat200@100", "hymenoptera", "digits",
    "mnist100", "eurosat200",
)
TEXT_SPECS = tuple(f"{origin}@{n}" for n in (25, 100, 400) for origin in ("sms_spam", "sst2", "trec6", "germeval2018"))


GROUPED_ORIGINS = ("units", "glyphs")  # their file names start with `origins.family_key` and a "-"


def origin_of(spec: str) -> str:
    return spec.split("/")[0].split("@")[0].split("~")[0].split(":")[0]


def _parse(spec: str) -> tuple[str, int | None, int | None, int | None]:
    rest = spec.removesuffix(":grouped")
    rest, _, px = rest.partition("~")
    rest, _, count = rest.partition("@")
    origin, _, classes = rest.partition("/")
    return origin, int(classes) if classes else None, int(count) if count else None, int(px) if px else None


def _generated(origin: str, scratch: Path) -> Path | None:
    """The folder of a generated origin (scikit-learn digits, drawn shapes), written once into scratch."""
    from tlcore import samples

    writers = {"digits": lambda f: samples._write_digits(f, per_class=200),
               "shapes": lambda f: samples._write_shapes(f, per_class=160)}
    if origin not in writers:
        return None
    folder = scratch / f"origin-{origin}"
    if not folder.is_dir():
        writers[origin](folder)
    return folder


def variant_source(spec: str, root: Path, scratch: Path) -> tuple[Path, int | None]:
    """What to import for `spec` (a folder of images or a table of texts) and its image size, if fixed."""
    origin = _parse(spec)[0]
    fetched = origin_path(origin)  # a registry origin's folder or table, None for the shared and generated ones
    table = fetched if fetched is not None and fetched.suffix == ".csv" else root / "text" / f"{origin}.csv"
    return (text_variant(spec, table, scratch), None) if table.is_file() else variant_folder(spec, root, scratch)


def text_variant(spec: str, table: Path, scratch: Path) -> Path:
    """A table of `spec`'s texts with a split column: `train` (N per class, split again by the import), `test`."""
    import pandas as pd

    from tlcore.text.data import normalise

    _, classes, count, _ = _parse(spec)
    frame = pd.read_csv(table)[["text", "label"]].dropna()
    frame = frame[~frame["text"].map(normalise).duplicated()].sample(frac=1.0, random_state=0)
    kept = sorted(frame["label"].astype(str).unique())[:classes] if classes else None
    parts = []
    for label, texts in frame.groupby(frame["label"].astype(str), sort=True):
        if kept is not None and label not in kept:
            continue
        n_test = min(TEXT_TEST_PER_CLASS, len(texts) // 4)
        test, rest = texts.iloc[:n_test], texts.iloc[n_test:]
        parts += [rest.iloc[:count].assign(split="train"), test.assign(split="test")]
    scratch.mkdir(parents=True, exist_ok=True)
    out = scratch / (spec.replace("@", "-").replace("/", "-") + ".csv")
    pd.concat(parts).to_csv(out, index=False)
    return out


def variant_folder(spec: str, root: Path, scratch: Path) -> tuple[Path, int | None]:
    """The folder of `spec` (a copy unless it is a whole origin) and its image size, if the spec fixes one.

    A variant of N per class learns from those N (`train/`, split into training and validation by
    the import) and is tested on up to TEST_PER_CLASS other images of each class (`test/`), so a
    small variant's test accuracy is not read off a handful of images.
    """
    origin, classes, count, px = _parse(spec)
    grouped = spec.endswith(":grouped")
    if grouped and (origin not in GROUPED_ORIGINS or (classes is None and count is None)):
        raise SystemExit(f"{spec}: only a subset (/K or @N) of {', '.join(GROUPED_ORIGINS)} can be grouped")
    source = _generated(origin, scratch) or origin_path(origin) or root / origin
    if classes is None and count is None:
        return source, px
    by_class: dict[str, list[Path]] = {}
    for path in sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        by_class.setdefault(path.parent.name, []).append(path)
    kept = sorted(by_class)[:classes] if classes else sorted(by_class)
    folder = scratch / spec.replace("@", "-").replace("/", "-").replace("~", "-").replace(":", "-")
    for label in kept:
        files = by_class[label]
        learn = files[:count] if count else files[: len(files) - TEST_PER_CLASS]
        for split, chosen in (("train", learn), ("test", files[len(learn):][:TEST_PER_CLASS])):
            for path in chosen:
                place = folder / split / label / (path.name.split("-")[0] if grouped else "")
                place.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, place / f"{path.parent.parent.name}-{path.name}")
    return folder, px


def _measured(dataset, image_size: int | None, seed: int):
    """The base, the analysis's measures and the threshold rule's advice for the variant, as `analyze` takes them."""
    modality = modality_of(dataset)
    # the kind's default base, whatever the texts' language: the rule is calibrated on the base that can fine-tune
    # (texts mostly not in English would otherwise resolve to the multilingual base, which cannot)
    choice = modality.resolve_base(dataset, modality.default_base, image_size)
    m = modality.measure(dataset, choice, seed=seed, descriptions=None, progress=None)
    advice = recommend(m.size, m.transferability, m.reading, m.as_is_accuracy, modality.domain,
                       {"image_size": choice.image_size})
    return choice, m, advice


def measured_row(spec: str, dataset, image_size: int | None, budget: float, seed: int = 0) -> dict:
    """What the recommendation sees (before training) and what each strategy scored (after), as one row."""
    started = time.perf_counter()
    choice, m, advice = _measured(dataset, image_size, seed)
    analysis_seconds = time.perf_counter() - started
    finetune = dataclasses.replace(FinetuneConfig(), **m.reading.settings)
    config = TrainConfig(strategies=STRATEGIES, backbone=choice.name, image_size=choice.image_size,
                         budget_seconds=budget, finetune=finetune, stop_early=False, seed=seed)
    with tempfile.TemporaryDirectory() as runs:
        result = train(dataset, config, Path(runs))
    board = result.leaderboard
    t = m.transferability
    row = {
        "spec": spec, "origin": origin_of(spec), "base": choice.name, "n_classes": m.size["n_classes"],
        "per_class": m.size["per_class_known_median"], "n_train": int((dataset.records["split"] == "train").sum()),
        "image_size": choice.image_size, "probe": t.probe_accuracy, "loo": t.loo_accuracy,
        "asis": max(t.asis_accuracy, m.as_is_accuracy), "slope": t.slope, "logme": t.logme, "leep": t.leep,
        "distance": m.reading.distance, "far": m.reading.far, "rule_strategy": advice.strategy,
        "rule_confidence": advice.confidence, "unfreeze_blocks": m.reading.settings.get("unfreeze_blocks"),
        "analysis_seconds": round(analysis_seconds, 1), "val_items": int((dataset.records["split"] == "val").sum()),
        "test_items": int((dataset.records["split"] == "test").sum()), "budget_seconds": budget, "seed": seed,
    }
    test_items = sorted(str(item) for item in dataset.items("test"))
    for strategy in STRATEGIES:
        rows = board[board["strategy"] == strategy]
        row[f"test_{strategy}"] = result.report["per_strategy"][strategy]["accuracy"]
        row[f"val_{strategy}"] = float(rows["val_accuracy"].max())
        row[f"seconds_{strategy}"] = round(float(rows["train_seconds"].sum()), 1)
        row[f"wrong_{strategy}"] = wrong_positions(result.per_strategy[strategy], test_items)
    # what extract costs where the head search stops once it cannot pay (the product's default): the
    # scikit-learn heads; the search here ran to its share of the budget, to be compared whole
    heads = board[(board["strategy"] == "extract") & (board["model"] != "keras_head")]
    row["seconds_extract_heads"] = round(float(heads["train_seconds"].sum()), 1)
    return row


def wrong_positions(evaluation, test_items: list[str]) -> str:
    """The positions (in `test_items`, sorted names) of the test items `evaluation` got wrong, space-separated."""
    where = {item: position for position, item in enumerate(test_items)}
    return " ".join(str(p) for p in sorted(where[str(m["file"])] for m in evaluation.misclassified))


def pilot_columns(dataset, image_size: int | None, seed: int = 0) -> dict:
    """What `analyze --pilot` would measure on the variant (nothing where the analysis says predict)."""
    choice, m, advice = _measured(dataset, image_size, seed)
    if advice.strategy == "predict":
        return {"pilot_extract": "", "pilot_finetune": "", "pilot_seconds": "", "pilot_winner": "none"}
    with tempfile.TemporaryDirectory() as workspace:
        pilot = run_pilot(dataset, choice.name, choice.image_size, m.reading.settings, Path(workspace), seed=seed)
    return {"pilot_extract": pilot.extract_accuracy, "pilot_finetune": pilot.finetune_accuracy,
            "pilot_seconds": pilot.seconds, "pilot_winner": pilot.winner}


def write_table(path: Path, rows: list[dict]) -> None:
    """Rewrite the whole table (columns: the union of every row's, in first-seen order)."""
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)


def read_table(path: Path) -> list[dict]:
    """The rows collected so far, numbers as numbers."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def read_tables(paths) -> list[dict]:
    """The rows of several tables, joined (a kind's tables: `IMAGE_TABLES`, `TEXT_TABLES`)."""
    return [row for path in paths for row in read_table(path)]


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("specs", nargs="*")
    parser.add_argument("--texts", action="store_true", help="the text variants and table (default: images)")
    parser.add_argument("--table", type=Path)
    parser.add_argument("--budget-seconds", type=float, default=240)
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--pilot", action="store_true", help="add the pilot's columns to the rows that lack them")
    parser.add_argument("--seed", type=int, default=0, help="the draw: validation split, folds, search, initialisation")
    args = parser.parse_args()
    args.specs = args.specs or list(TEXT_SPECS if args.texts else DEFAULT_SPECS)
    args.table = args.table or (TEXT_TABLE if args.texts else TABLE)
    done = {(row["spec"], row.get("seed") or 0) for row in read_table(args.table)}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; budget {args.budget_seconds:.0f} s per variant; "
          f"{len(done)} rows already in {args.table}", flush=True)
    args.table.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        if args.pilot:
            add_pilots(args, Path(scratch))
            return
        for spec in args.specs:
            if (spec, args.seed) in done:
                continue
            started = time.perf_counter()
            source, px = variant_source(spec, args.root, Path(scratch) / "sources")
            dataset = import_data(source, Path(scratch) / "store", split=SplitConfig(seed=args.seed))
            row = measured_row(spec, dataset, px, args.budget_seconds, seed=args.seed)
            write_table(args.table, [*read_table(args.table), row])
            print(f"{spec}: {time.perf_counter() - started:.0f} s; " + ", ".join(
                f"{s} {row[f'test_{s}']:.1%}" for s in STRATEGIES) + f"; rule says {row['rule_strategy']}", flush=True)


def add_pilots(args, scratch: Path) -> None:
    """Run the pilot on every row without its columns, rewriting the table after each."""
    rows = read_table(args.table)
    for index, row in enumerate(rows):
        if row.get("pilot_winner", "") != "":
            continue
        started = time.perf_counter()
        source, px = variant_source(row["spec"], args.root, scratch / "sources")
        dataset = import_data(source, scratch / "store")
        rows[index] = row | pilot_columns(dataset, px)
        write_table(args.table, rows)
        print(f"{row['spec']}: pilot says {rows[index]['pilot_winner']} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
