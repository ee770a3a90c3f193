"""Numbers the server reads from its environment (quotas, workers, threads): one parser and one refusal, so every
setting is checked alike and a wrong one is named with what to set instead."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping

from .errors import SettingError


def number(name: str, what: str, kind: type, default: Callable[[], float], example: str, low: float = 1,
           environ: Mapping[str, str] = os.environ) -> float:
    """The setting `name` as a finite `kind` (int or float) of at least `low`, `default()` when unset; a
    `SettingError` that names it, what it should be and an `example` otherwise."""
    text = environ.get(name, "").strip()
    if not text:
        return default()
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < low:
        raise SettingError(f"{name}={text!r} is not {what} of at least {low:g}; set it to e.g. {example}, or unset it "
                           "for the default")
    return value
