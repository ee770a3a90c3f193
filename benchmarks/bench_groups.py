"""Do groups make the held-out numbers honest? The same variants split image by image, and by group.

Reads two calibration tables of the same variants (`benchmarks/calibration.py`): one collected
with the import's image-by-image validation split (by default `images_origins5.csv`: Wesnoth's unit
sprites, a unit's frames in training and validation alike), one with each family kept whole
(`images_units_grouped.csv`: the same specs with `:grouped`). Every row's test images are other
units either way, so the test accuracy is the truth the validation split should read. Printed per
variant and on average: how far validation reads above test for the frozen head and for
fine-tuning, and how far the analysis's probe (cross-validated on training and validation) reads
above the frozen head's test accuracy; then, per reading, the mean gap (signed: optimistic above
zero) and the mean distance from the truth (either way), and the ratio of the plain split's mean
distance to the grouped one's.

    .venv/bin/python benchmarks/bench_groups.py [--plain PATH] [--grouped PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from calibration import TABLE, read_table  # noqa: E402  (benchmarks/calibration.py)

GAPS = {"frozen head": ("val_extract", "test_extract"), "fine-tuning": ("val_finetune", "test_finetune"),
        "probe": ("probe", "test_extract")}


def gaps(row: dict) -> dict[str, float]:
    """Points by which each held-out reading (validation, the probe) exceeds the test accuracy it stands for."""
    return {name: 100 * (row[read] - row[truth]) for name, (read, truth) in GAPS.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plain", type=Path, default=TABLE.with_name("images_origins5.csv"))
    parser.add_argument("--grouped", type=Path, default=TABLE.with_name("images_units_grouped.csv"))
    args = parser.parse_args()
    grouped = {row["spec"].removesuffix(":grouped"): row for row in read_table(args.grouped)}
    plain = {row["spec"]: row for row in read_table(args.plain) if row["spec"] in grouped}
    if not plain:
        parser.error(f"no variant of {args.grouped} is in {args.plain}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {len(plain)} variants in both "
          f"{args.plain.name} (split image by image) and {args.grouped.name} (groups kept whole)")
    print("points by which a held-out reading exceeds the test accuracy (other families' images) it stands for")
    print(f"{'variant':<14} {'split':<8} " + " ".join(f"{name:>12}" for name in GAPS) + f" {'val items':>9}")
    distance = {}
    for kind, table in (("plain", plain), ("grouped", grouped)):
        rows = [table[spec] for spec in plain]
        for spec, row in zip(plain, rows, strict=True):
            print(f"{spec:<14} {kind:<8} " + " ".join(f"{g:>+12.1f}" for g in gaps(row).values())
                  + f" {row['val_items']:>9}")
        signed = {name: sum(gaps(r)[name] for r in rows) / len(rows) for name in GAPS}
        distance[kind] = {name: sum(abs(gaps(r)[name]) for r in rows) / len(rows) for name in GAPS}
        print(f"mean, {kind:<8} " + ", ".join(f"{name} {signed[name]:+.1f} (off by {distance[kind][name]:.1f})"
                                             for name in GAPS))
    for name in GAPS:
        plain_off, grouped_off = distance["plain"][name], distance["grouped"][name]
        print(f"ratio: {name} off by {plain_off:.1f} points split image by image / {grouped_off:.1f} by group = "
              f"{plain_off / grouped_off if grouped_off else float('inf'):.2f}")


if __name__ == "__main__":
    main()
