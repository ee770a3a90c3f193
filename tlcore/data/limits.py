"""The limits on what an import accepts, in one place, so error messages can quote them."""

from __future__ import annotations

from dataclasses import dataclass

from ..images import MAX_PIXELS


@dataclass(frozen=True)
class ImportLimits:
    """Caps against zip bombs and decompression bombs; raise them for a trusted, larger dataset."""

    max_files: int = 100_000  # entries in a zip
    max_total_bytes: int = 4 * 1024**3  # uncompressed size of a zip's content
    max_ratio: float = 100.0  # uncompressed / compressed size of any one zip entry ...
    ratio_min_bytes: int = 1024**2  # ... that unpacks to more than this (small solid-colour BMPs compress well)
    max_pixels: int = MAX_PIXELS  # width x height of any one image


@dataclass(frozen=True)
class SplitConfig:
    """How a dataset without split folders is divided; see `tlcore.data.splits`."""

    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
