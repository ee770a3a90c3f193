"""What is wrong with a text dataset before anyone trains on it: counts, lengths, near-duplicates, leakage.

Exact duplicates never get this far: the import drops them (and lists them) before splitting.
Near-duplicates are pairs of sentence embeddings (already unit length, not centred) with a
cosine of at least 0.95. Measured on sms_spam after exact duplicates are dropped: copies of a
spam message that differ in a phone number or a word score 0.95-1.0 (243 pairs), a reworded text
("Sorry,in meeting I'll call later" / "Sorry, I'll call later in meeting.") 0.94, paraphrases
("one of the worst movies of the year" / "the worst film of the year", SST-2) 0.90-0.94; a typo
that splits a word into pieces can fall far lower. A pair that joins a training text with a
validation or test text is leakage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.audit import Audit, label_issues_of, near_pairs
from ..data.splits import leaks

NEAR_DUPLICATE_THRESHOLD = 0.95


def audit_text(dataset, features: np.ndarray | None = None, threshold: float = NEAR_DUPLICATE_THRESHOLD) -> Audit:
    records = dataset.records
    duplicates = [{"files": [s.file], "kinds": ["exact duplicate, dropped"], "reason": s.reason, "leakage": False}
                  for s in dataset.skipped if s.reason.startswith("duplicate of")]
    near = None
    if features is not None:
        if len(features) != len(records):
            raise ValueError(f"features has {len(features)} rows for {len(records)} texts")
        near = [_describe(records.iloc[[i, j]], s) for i, j, s in near_pairs(features, threshold, centre=False)]
    leakage = [group for group in near or [] if group["leakage"]]
    warnings = list(dataset.warnings)
    if leakage:
        warnings.append(f"{len(leakage)} pair(s) of near-identical texts sit in both the training and a held-out "
                        "split: the test score may be optimistic; remove one text of each pair")
    issues = label_issues_of(dataset, features, list(records["text"]))
    return Audit(_per_class(dataset), {"text": len(records)}, duplicates, near, leakage, warnings, issues)


def _describe(pair: pd.DataFrame, similarity: float) -> dict:
    splits = sorted(set(pair["split"]))
    labels = sorted(set(pair["label"]))
    return {
        "files": [t[:120] for t in pair["text"]],
        "labels": list(pair["label"]),
        "splits": list(pair["split"]),
        "kinds": ["within one class" if len(labels) == 1 else "conflicting labels"]
        + (["across splits"] if len(splits) > 1 else []),
        "leakage": leaks(set(splits)),
        "similarity": round(similarity, 4),
    }


def _per_class(dataset) -> pd.DataFrame:
    records = dataset.records
    table = records.groupby("label").agg(count=("text", "size"), median_chars=("n_chars", "median"),
                                         max_chars=("n_chars", "max"))
    splits = records.pivot_table(index="label", columns="split", values="text", aggfunc="size", fill_value=0)
    for split in ("train", "val", "test"):
        table[split] = splits.get(split, 0)
    table["share"] = (table["count"] / table["count"].sum()).round(4)
    table = table.reindex(list(dataset.classes)).reset_index().rename(columns={"label": "class"})
    columns = ["class", "count", "share", "train", "val", "test", "median_chars", "max_chars"]
    return table[columns].astype({c: int for c in columns if c not in ("class", "share")})
