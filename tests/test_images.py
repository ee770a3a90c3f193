"""Decoding user images into RGB uint8: modes, orientation, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tlcore.errors import ImageError
from tlcore.image.decode import load_rgb, require_files


def test_transparent_pixels_become_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:4, :, :] = (255, 0, 0, 255)  # opaque red top half, transparent bottom half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image = load_rgb(tmp_path / "a.png")
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8
    assert tuple(image[0, 0]) == (255, 0, 0)
    assert tuple(image[7, 7]) == (255, 255, 255)


def test_grey_16_bit_keeps_its_contrast(tmp_path):
    grey = np.linspace(0, 4000, 64, dtype=np.uint16).reshape(8, 8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    image = load_rgb(tmp_path / "g.png")
    assert image.shape == (8, 8, 3)
    assert image[0, 0, 0] == 0 and image[7, 7, 0] == 255  # scaled, not clipped to white


def test_cmyk_and_palette_become_rgb(tmp_path):
    Image.new("CMYK", (5, 4), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    Image.new("P", (5, 4), 3).save(tmp_path / "p.gif")
    assert load_rgb(tmp_path / "c.jpg").shape == (4, 5, 3)
    assert load_rgb(tmp_path / "p.gif").shape == (4, 5, 3)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_rgb(tmp_path / "rotated.jpg").shape == (40, 20, 3)


def test_resizes_to_a_square_of_the_asked_size(tmp_path):
    Image.new("RGB", (300, 120), (10, 20, 30)).save(tmp_path / "wide.png")
    assert load_rgb(tmp_path / "wide.png", 64).shape == (64, 64, 3)


def test_huge_image_is_refused_with_the_limit(tmp_path):
    Image.new("L", (300, 300)).save(tmp_path / "big.png")
    with pytest.raises(ImageError, match=r"300x300.*limit of 10,000"):
        load_rgb(tmp_path / "big.png", max_pixels=10_000)


def test_not_an_image_is_refused_with_the_formats_to_use(tmp_path):
    (tmp_path / "notes.jpg").write_text("not a picture")
    with pytest.raises(ImageError, match=r"notes\.jpg: not a readable image.*JPEG, PNG"):
        load_rgb(tmp_path / "notes.jpg")


def test_missing_files_are_named(tmp_path):
    (tmp_path / "here.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"gone\.png: not a file .*\(and 1 more\)"):
        require_files([tmp_path / "here.png", tmp_path / "gone.png", tmp_path / "gone2.png"])
