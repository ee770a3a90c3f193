"""Decode any image a user may have into the RGB uint8 array every base expects.

One function for training, analysis and prediction alike, so an image looks the same to the
model wherever it comes from.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..data.limits import MAX_PIXELS
from ..errors import ImageError

ImageSource = str | os.PathLike | bytes | BinaryIO
FULL_SIDE = 2048  # "full size" for a model that resizes inside (a bundle): longer sides are shrunk while decoding


def load_rgb(source: ImageSource, size: int | None = None, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode `source` to an (H, W, 3) uint8 array, resized to size x size when `size` is given; without `size`,
    at most `FULL_SIDE` on its longer side (its shape kept), so that a 40-megapixel photo given to a bundle's
    model, which resizes it to a few hundred pixels anyway, costs megabytes, not gigabytes.

    EXIF orientation is applied; grey, palette, 16-bit and CMYK images become RGB, and
    transparent pixels are shown on white (the way a viewer shows them).
    """

    def square(image: Image.Image) -> Image.Image:
        return image if size is None else image.resize((size, size), Image.Resampling.BILINEAR)

    return _decoded(source, size, max_pixels, square)


def thumbnail(source: ImageSource, side: int, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """`source` as an RGB uint8 array that fits in side x side, its shape kept: what a page can show of any image
    `load_rgb` reads (a 16-bit PNG or a CMYK JPEG, which a browser or Streamlit's encoder may not take)."""

    def fit(image: Image.Image) -> Image.Image:
        image.thumbnail((side, side), Image.Resampling.BILINEAR)
        return image

    return _decoded(source, side, max_pixels, fit)


def _decoded(source: ImageSource, size: int | None, max_pixels: int, finish) -> np.ndarray:
    name = _describe(source)
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{name}: {width}x{height} pixels is more than the limit of {max_pixels:,}; "
                    "shrink the image (or raise max_pixels) and try again"
                )
            if size is not None:
                image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, still >= size
            elif max(width, height) > FULL_SIDE:
                image = _shrunk(image, FULL_SIDE)
            return np.asarray(finish(_to_rgb(ImageOps.exif_transpose(image))), dtype=np.uint8)
    except FileNotFoundError:
        raise ImageError(f"{name}: file not found; check the path") from None
    except Image.DecompressionBombError:
        raise ImageError(
            f"{name}: more pixels than the limit of {max_pixels:,}; shrink the image and try again"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageError(
            f"{name}: not a readable image ({type(error).__name__}: {error}); use JPEG, PNG, GIF, BMP, WebP or TIFF"
        ) from None


def _shrunk(image: Image.Image, side: int) -> Image.Image:
    """`image` at most `side` on its longer side, never held whole at full size where the format allows: a JPEG
    is decoded at 1/2 to 1/8 scale (`draft`); then any format is reduced by a whole factor and resized."""
    width, height = image.size
    image.draft(image.mode if image.mode in ("RGB", "L") else "RGB", (width * side // max(width, height),
                                                                       height * side // max(width, height)))
    with contextlib.suppress(ValueError):  # a mode Pillow cannot resize (16-bit grey): decoded as it is
        image.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)  # reduce, then resize
    return image


def require_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The paths as `Path`s, or an `ImageError` naming the first that is not a file."""
    result = [Path(p) for p in paths]
    missing = [str(p) for p in result if not p.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ImageError(f"{missing[0]}: not a file (missing, a folder or a device){more}; check the path")
    return result


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grey: scale the used range to 8 bits instead of clipping everything to white.
        array = np.asarray(image, dtype=np.float64)
        top = max(float(array.max()), 1.0)
        image = Image.fromarray((array * (255.0 / top)).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _describe(source: ImageSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(Path(source))
    return getattr(source, "name", "uploaded image")
