"""Open every candidate image once: its hash, size and format, or the reason it cannot be used."""

from __future__ import annotations

import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..progress import ProgressCallback, report


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    width: int
    height: int
    format: str


def check_image(path: Path, max_pixels: int) -> ImageInfo | str:
    """Decode `path` fully (so truncation shows); return its facts, or why it is unusable.

    Read from the file, not into memory first: a file of gigabytes costs its decoded pixels (bounded by
    `max_pixels`) and a hash read a megabyte at a time, never its whole size.
    """
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                return _too_large(width, height, max_pixels)
            image.load()  # the first frame of a GIF or TIFF; raises on truncated data
            image_format = image.format or path.suffix.lstrip(".").upper()
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    except Image.DecompressionBombError as error:  # Pillow's own, larger limit stopped it at the header
        found = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        return f"too large: {size}, more than {max_pixels:,} (ImportLimits.max_pixels); shrink the image"
    except UnidentifiedImageError:
        return "not an image Pillow can read (wrong extension or unsupported format)"
    except (FileNotFoundError, PermissionError, IsADirectoryError) as error:
        return f"cannot be read ({error.strerror or error})"
    except (OSError, SyntaxError, ValueError) as error:
        return f"damaged or truncated image ({error})"
    return ImageInfo(digest, width, height, image_format)


def _too_large(width: int, height: int, max_pixels: int) -> str:
    return (
        f"too large: {width}x{height} = {width * height:,} pixels, more than {max_pixels:,} "
        "(ImportLimits.max_pixels); shrink the image"
    )


def check_images(paths: list[Path], max_pixels: int, progress: ProgressCallback | None = None) -> list[ImageInfo | str]:
    """`check_image` over many files in a thread pool (Pillow decodes without holding the GIL)."""
    results: list[ImageInfo | str] = []
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for done, result in enumerate(pool.map(lambda p: check_image(p, max_pixels), paths), start=1):
            results.append(result)
            if done % 32 == 0 or done == len(paths):
                report(progress, "check images", done, len(paths))
    return results
