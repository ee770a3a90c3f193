"""Which text base reads the user's texts best, measured on their own data before any training.

As for images (`tlcore.image.ranking`): every installed text base embeds at most `RANK_ITEMS` training
and validation texts (a stratified sample; never test), and on those the analysis's own measures are
taken: the 5-fold cross-validated linear probe (what "extract" will score), LogME, and the frozen
forward pass's seconds per text on this machine.

What differs from images is the language. The bases are not rivals on every set: MiniLM reads
English only and is the one base that can be fine-tuned; the multilingual bases read 16 to 100
languages and cannot. So the analysis starts from the base the texts' language calls for (`preferred`:
the multilingual base a bundle can carry when most texts are not in English, `language.language_vote`;
the default otherwise), and recommends another only when it reads the texts more than `SWITCH_POINTS`
better (more than the folds' noise at a few hundred texts). A base no bundle can carry (e5-small's C
engine) is measured and shown, never recommended, and the sentence says why.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import SettingError
from ..folds import group_ids, stratified_sample
from ..modality import BaseChoice, BaseRanking
from ..progress import ProgressCallback, report, restaged
from ..transferability import logme, probe_accuracy
from .encoder import DEFAULT_TEXT_BACKBONE, TEXT_REGISTRY, get_text_spec, load_text_encoder
from .language import LANGUAGE_NAMES, LanguageVote, language_vote
from .multilingual import multilingual_base

RANK_ITEMS = 300  # training and validation texts the bases are ranked on, at most (a stratified sample)
SWITCH_POINTS = 3.0  # probe points another base must gain over the one the language calls for to be recommended
TIMED_TEXTS = 32
COLUMNS = ("base", "title", "rank", "recommended", "probe_accuracy", "logme", "seconds_per_item",
           "points_vs_default", "time_vs_default", "languages", "exportable", "finetunable", "features_from_cache")


def short_title(name: str) -> str:
    """The registry's title without its notes in brackets: all-MiniLM-L6-v2."""
    return get_text_spec(name).title.split(" (")[0]


def installed_text_bases() -> list[str]:
    return [name for name, spec in TEXT_REGISTRY.items() if spec.availability()[0]]


def bases_to_rank(vote: LanguageVote) -> list[str]:
    """Every installed base a bundle can carry; those it cannot (e5's C engine) only for texts mostly not in English,
    where a user predicting inside TransferLab may want them (on English texts they add ~20 s for nothing)."""
    return [name for name in installed_text_bases() if get_text_spec(name).how.bundle_self_contained
            or (vote.mostly_not_english and get_text_spec(name).language == "multilingual")]


def known_texts(dataset) -> list[str]:
    """The training and validation texts (what the analysis may look at; never test)."""
    known = dataset.records["split"].to_numpy(dtype=object) != "test"
    return [text for text, keep in zip(dataset.texts(), known, strict=True) if keep]


def preferred_base(vote: LanguageVote) -> str:
    """The base the texts' language calls for: the exportable multilingual one for texts mostly not in English
    (when installed), else the default."""
    return (vote.mostly_not_english and multilingual_base()) or DEFAULT_TEXT_BACKBONE


def resolve(dataset, name: str | None) -> BaseChoice:
    """The base given by name, else the one the language of the training and validation texts calls for."""
    name = name or preferred_base(language_vote(known_texts(dataset)))
    get_text_spec(name)  # an unknown name fails here, before anything loads
    return BaseChoice(name, None)


def rank_bases(dataset, choice: BaseChoice, features: np.ndarray | None = None, *, seed: int = 0,
               names: list[str] | None = None, max_items: int | None = RANK_ITEMS,
               progress: ProgressCallback | None = None) -> BaseRanking | None:
    """The installed text bases (`bases_to_rank`, or `names`) measured on `dataset`, best first; None when fewer
    than two. A named base that is not installed fails with the pip command.

    `features` are every record's (dataset order), already computed with `choice`'s base: not run again.
    """
    from .embed import embed_texts

    known = np.flatnonzero(dataset.records["split"].to_numpy(dtype=object) != "test")
    texts = dataset.texts()
    vote = language_vote([texts[i] for i in known])
    names = list(names) if names is not None else bases_to_rank(vote)
    if len(names) < 2:
        return None
    rows_used = stratified_sample(known, dataset.labels(), max_items, seed)
    labels = dataset.labels()[rows_used]
    groups = dataset.groups()
    groups = group_ids(None if groups is None else groups[rows_used])
    chosen = [texts[i] for i in rows_used]
    timed = (dataset.texts("train") or texts)[:TIMED_TEXTS]
    measured = []
    for name in names:
        available, reason = get_text_spec(name).availability()  # an unknown name fails here, listing the valid ones
        if not available:
            raise SettingError(f"{short_title(name)} cannot be ranked: {reason}")
    for number, name in enumerate(names):
        title = short_title(name)
        report(progress, "rank bases", number, len(names), f"{title}: reading your texts")
        encoder = load_text_encoder(name)
        if features is not None and name == choice.name:
            x, from_cache = np.asarray(features)[rows_used], True
        else:
            found = embed_texts(chosen, encoder, progress=restaged(progress, f"features ({title})"))
            x, from_cache = found.features, found.from_cache
        report(progress, "rank bases", number, len(names), f"{title}: how well it tells your classes apart; its speed")
        spec = get_text_spec(name)
        measured.append({
            "base": name,
            "title": title,
            "probe_accuracy": probe_accuracy(x, labels, seed, groups),
            "logme": logme(x, labels),
            "seconds_per_item": _seconds_per_text(encoder, timed),
            "languages": spec.language,
            "exportable": spec.how.bundle_self_contained,
            "finetunable": spec.finetunable,
            "features_from_cache": from_cache,
        })  # fmt: skip
    report(progress, "rank bases", len(names), len(names))
    return ranked(measured, vote, len(rows_used), len(known))


def _seconds_per_text(encoder, texts: list[str]) -> float:
    """The frozen forward pass on a batch of the user's texts, after one warm-up call (`latency_ms`)."""
    return float(encoder.latency_ms(texts)) / 1000


def ranked(measured: list[dict], vote: LanguageVote, items: int, of_items: int) -> BaseRanking:
    """Order the measured bases, mark the recommended one, compare each with the default, say it in words."""
    by_name = {row["base"]: row for row in measured}
    preferred = preferred_base(vote)
    exportable = [row for row in measured if row["exportable"]]
    start = by_name.get(preferred) or max(exportable or measured, key=lambda row: row["probe_accuracy"])
    best = max(exportable or measured, key=lambda row: row["probe_accuracy"])
    switch = 100 * (best["probe_accuracy"] - start["probe_accuracy"]) > SWITCH_POINTS
    recommended = (best if switch else start)["base"]
    rest = sorted((row for row in measured if row["base"] != recommended),
                  key=lambda row: (-row["probe_accuracy"], row["seconds_per_item"]))
    reference = by_name.get(DEFAULT_TEXT_BACKBONE, by_name[recommended])
    rows = []
    for rank, row in enumerate([by_name[recommended], *rest], start=1):
        rows.append({**row, "rank": rank, "recommended": row["base"] == recommended,
                     "points_vs_default": 100 * (row["probe_accuracy"] - reference["probe_accuracy"]),
                     "time_vs_default": _ratio(row["seconds_per_item"], reference["seconds_per_item"])})
    rows = [{key: row[key] for key in COLUMNS} for row in rows]
    return BaseRanking(tuple(rows), recommended, sentence(rows, vote, switch), items, of_items)


def sentence(rows: list[dict], vote: LanguageVote, switched: bool) -> str:
    """The recommended base in plain words: why (the language, or the measure), against the default and the rest."""
    first, by_name = rows[0], {row["base"]: row for row in rows}
    default = by_name.get(DEFAULT_TEXT_BACKBONE)
    language = _language_words(vote)
    if switched:
        why = f"{first['title']} reads your texts {_points(first, by_name[preferred_base(vote)])} than " \
              f"{by_name[preferred_base(vote)]['title']}, more than the folds' noise ({SWITCH_POINTS:.0f} points)"
    elif vote.mostly_not_english and first["languages"] == "multilingual":
        why = f"Most of your texts are not in English ({language}): the multilingual base {first['title']}"
        why += (f" reads them {_points(first, default)} than {default['title']}, which reads English only"
                if default is not None and default is not first else " reads them")
    elif first["base"] == DEFAULT_TEXT_BACKBONE:
        why = f"Your texts are in English ({language}): {first['title']}, the default, stays"
        others = [row for row in rows[1:] if row["exportable"]]
        if others:
            gain = 100 * (others[0]["probe_accuracy"] - first["probe_accuracy"])
            why += (f"; {others[0]['title']} reads them {_points(others[0], first)}"
                    + (", within the folds' noise, and cannot be fine-tuned" if gain > 0 else ""))
    else:
        why = f"{first['title']} reads your texts best of the bases a bundle can carry"
    if default is not None and default is not first:
        why += f", and {_pace(first, default)}"
    if not first["finetunable"]:
        why += ". It cannot be fine-tuned: extract and predict are its ways"
    better = [row for row in rows[1:] if not row["exportable"] and row["probe_accuracy"] > first["probe_accuracy"]]
    if better:
        why += (f". {better[0]['title']} reads them {_points(better[0], first)}, but runs in an engine no bundle "
                "can carry: choose it only if you will predict inside TransferLab")
    return why + "."


def _language_words(vote: LanguageVote) -> str:
    """'German 92%' (the largest language of the texts that vote)."""
    if not vote.languages:
        return "no language could be told"
    code, share = max(vote.languages.items(), key=lambda item: item[1])
    return f"{LANGUAGE_NAMES.get(code, code)} {share:.0%}"


def _points(row: dict, against: dict) -> str:
    points = 100 * (row["probe_accuracy"] - against["probe_accuracy"])
    return f"{points:.1f} points better" if points >= 0.05 else f"{-points:.1f} points worse" if points <= -0.05 \
        else "as well"


def _ratio(seconds: float, reference: float) -> float:
    return seconds / reference if reference > 0 else math.nan


def _pace(row: dict, against: dict | None) -> str:
    """'takes 1.6x as long as all-MiniLM-L6-v2' or 'is 1.3x as fast': seconds per text in words."""
    ratio = _ratio(row["seconds_per_item"], against["seconds_per_item"]) if against else math.nan
    if not math.isfinite(ratio) or ratio <= 0:
        return "was not timed against it"
    return f"takes {ratio:.1f}x as long per text" if ratio >= 1 else f"is {1 / ratio:.1f}x as fast"
