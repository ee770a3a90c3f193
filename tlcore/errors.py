"""One error hierarchy, so the CLI and the app can show any refusal as one readable line.

Every message says what was expected, what was found and how to fix it.
"""

from __future__ import annotations


class TLCoreError(Exception):
    """Base of every error TransferLab raises on purpose."""


class UnknownNameError(TLCoreError, KeyError):
    """A name (base, strategy, classifier) that no registry knows."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        super().__init__(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(valid))}")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class UnsafeFileError(TLCoreError):
    """A file asked to run code or reference objects it has no business referencing."""


class WeightsUnavailableError(TLCoreError):
    """Pretrained weights are not on this machine and could not be fetched."""


class ImageError(TLCoreError):
    """A file that is missing, not an image, or too large to decode safely."""


class SettingError(TLCoreError, ValueError):
    """A setting outside what the chosen component supports."""


class DataError(TLCoreError):
    """A dataset that cannot be used as it is: the message says how to fix its layout."""


class UnsafeArchiveError(DataError):
    """A zip that tries to write outside its folder, or is far larger unpacked than packed."""


class BundleError(TLCoreError):
    """A bundle that is incomplete, altered, or not a TransferLab bundle at all."""
