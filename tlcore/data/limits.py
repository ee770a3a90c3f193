"""The limits on what an import accepts, in one place, so error messages can quote them."""

from __future__ import annotations

from dataclasses import dataclass

# Decompression-bomb guard: 40 megapixels is larger than any phone photo and ~120 MB decoded.
MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class ImportLimits:
    """Caps against zip bombs and decompression bombs; raise them for a trusted, larger dataset.

    The ratio holds for every entry of a zip, whatever its size, and for the zip as a whole (what
    it unpacks to against the bytes of the file itself); `ratio_slack_bytes` lets a tiny entry
    (a small solid-colour BMP, a short text) compress well without being taken for a bomb.
    """

    max_files: int = 100_000  # entries in a zip
    max_total_bytes: int = 4 * 1024**3  # uncompressed size of a zip's content
    max_ratio: float = 100.0  # uncompressed / compressed size of any entry, and of the whole zip ...
    ratio_slack_bytes: int = 64 * 1024  # ... beyond this many bytes
    max_pixels: int = MAX_PIXELS  # width x height of any one image
    max_name_bytes: int = 255  # one file or folder name inside a zip (most file systems' limit)
    max_path_bytes: int = 1024  # a whole entry path inside a zip (PATH_MAX is 4096 with the workspace before it)

    def ratio_allows(self, unpacked: int, packed: int) -> bool:
        return unpacked <= self.max_ratio * packed + self.ratio_slack_bytes


@dataclass(frozen=True)
class SplitConfig:
    """How a dataset without split folders is divided; see `tlcore.data.splits`."""

    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
