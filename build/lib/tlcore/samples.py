"""Built-in sample datasets, generated from what installed packages ship: no upload, no internet.

Each is written once as a folder of class folders under `$TRANSFERLAB_HOME/samples/<name>`,
deterministically (seeded), so the app and the tests can start from it.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from . import paths
from .errors import UnknownNameError

DEFAULT_SAMPLE = "shapes"


@dataclass(frozen=True)
class Sample:
    name: str
    title: str
    description: str
    write: Callable[[Path], None]


def _write_digits(folder: Path, per_class: int = 50, size: int = 64) -> None:
    """scikit-learn's 8x8 handwritten digits, the first `per_class` of each, drawn dark on light at 64 px."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(10):
        (folder / str(label)).mkdir(parents=True)
        for n, index in enumerate(np.flatnonzero(digits.target == label)[:per_class]):
            pixels = (255 - digits.images[index] * (255 / 16)).astype(np.uint8)
            image = Image.fromarray(pixels, "L").resize((size, size), Image.Resampling.BILINEAR).convert("RGB")
            image.save(folder / str(label) / f"digit_{label}_{n:03d}.png")


def _write_shapes(folder: Path, per_class: int = 60, size: int = 96, seed: int = 0) -> None:
    """Circles, squares and triangles of random colour, size, place and turn on random backgrounds."""
    rng = np.random.default_rng(seed)
    for shape in ("circle", "square", "triangle"):
        (folder / shape).mkdir(parents=True)
        for n in range(per_class):
            background, fill = (tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(2))
            image = Image.new("RGB", (size, size), background)
            radius = rng.uniform(0.18, 0.38) * size
            cx, cy = rng.uniform(radius, size - radius, 2)
            turn = rng.uniform(0, 2 * math.pi)
            draw = ImageDraw.Draw(image)
            if shape == "circle":
                draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=fill)
            else:
                corners = 4 if shape == "square" else 3
                draw.polygon(
                    [(cx + radius * math.cos(turn + 2 * math.pi * k / corners),
                      cy + radius * math.sin(turn + 2 * math.pi * k / corners)) for k in range(corners)],
                    fill=fill,
                )  # fmt: skip
            image.save(folder / shape / f"{shape}_{n:03d}.png")


SAMPLE_TEXTS = Path(__file__).parent / "sample_texts"  # one file per class, one message per line


def _write_support(folder: Path) -> None:
    """Customer messages on billing, delivery and account problems (written for TransferLab), one .txt each."""
    for source in sorted(SAMPLE_TEXTS.glob("*.txt")):
        (folder / source.stem).mkdir(parents=True)
        for n, line in enumerate(source.read_text(encoding="utf-8").splitlines()):
            (folder / source.stem / f"{source.stem}_{n:03d}.txt").write_text(line + "\n", encoding="utf-8")


SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in (
        Sample("shapes", "Shapes", "180 drawn circles, squares and triangles (3 classes, 96 px)", _write_shapes),
        Sample("digits", "Digits", "500 handwritten digits from scikit-learn (10 classes, upscaled to 64 px)",
               _write_digits),
        Sample("support", "Support messages", "120 customer messages about billing, delivery or an account "
               "(3 classes, English texts)", _write_support),
    )
}


def sample_path(name: str = DEFAULT_SAMPLE) -> Path:
    """The folder of sample `name`, written on first use."""
    try:
        sample = SAMPLES[name]
    except KeyError:
        raise UnknownNameError("sample dataset", name, list(SAMPLES)) from None
    folder = paths.cache_dir("samples") / name
    if not folder.is_dir():
        # own partial folder per writer: two sessions of one server process may write the sample at once
        partial = folder.with_name(f"{name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
        sample.write(partial)
        try:
            partial.rename(folder)
        except OSError:  # another process finished first; its copy is identical
            shutil.rmtree(partial, ignore_errors=True)
    return folder
