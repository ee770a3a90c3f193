"""Feature extraction: shapes, order, batching, the on-disk cache and progress."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tlcore.image import extract as features_module
from tlcore.image.bases import build_backbone
from tlcore.image.decode import load_rgb
from tlcore.image.extract import cache_key, extract_features


@pytest.fixture
def image_files(tmp_path, photos):
    """Five distinct images: the two photos and three crops of them."""
    files = [photos["chelsea"], photos["coffee"]]
    for i, box in enumerate([(0, 0, 200, 200), (100, 50, 400, 250), (50, 0, 250, 300)]):
        path = tmp_path / f"crop{i}.png"
        Image.open(photos["coffee" if i % 2 else "chelsea"]).crop(box).save(path)
        files.append(path)
    return files


def test_shapes_and_types(image_files, backbone, tmp_path):
    result = extract_features(image_files, backbone, cache_dir=tmp_path)
    assert result.features.shape == (5, 1280) and result.features.dtype == np.float32
    assert result.logits.shape == (5, 1000)
    assert not result.from_cache
    assert np.argmax(result.logits[0]) == 285 and np.argmax(result.logits[1]) == 967


def test_order_and_batching_do_not_change_results(image_files, backbone):
    """Prefetching in threads must keep the order; batch size must not change the numbers."""
    forward = extract_features(image_files, backbone, batch_size=2, use_cache=False).features
    backward = extract_features(image_files[::-1], backbone, batch_size=64, use_cache=False).features
    np.testing.assert_allclose(forward, backward[::-1], rtol=1e-4, atol=1e-4)


def test_files_and_arrays_give_the_same_features(image_files, backbone):
    array = np.stack([load_rgb(f, 224) for f in image_files])
    from_files = extract_features(image_files, backbone, use_cache=False).features
    from_array = extract_features(array, backbone, use_cache=False).features
    np.testing.assert_allclose(from_files, from_array, rtol=1e-5, atol=1e-5)


def test_second_run_reads_the_cache_without_running_the_base(image_files, backbone, tmp_path, monkeypatch):
    first = extract_features(image_files, backbone, cache_dir=tmp_path)

    def no_forward(*_args, **_kwargs):
        raise AssertionError("the base ran although the features were cached")

    monkeypatch.setattr(features_module.engine, "engine_for", no_forward)
    second = extract_features(image_files, backbone, cache_dir=tmp_path)
    assert second.from_cache
    np.testing.assert_array_equal(first.features, second.features)
    np.testing.assert_array_equal(first.logits, second.logits)


def test_cache_key_follows_content_base_and_size(image_files, backbone, tmp_path):
    key = cache_key(image_files, backbone)
    assert cache_key(list(image_files), backbone) == key
    changed = tmp_path / "changed.png"
    Image.open(image_files[2]).rotate(90).save(changed)
    assert cache_key([*image_files[:2], changed, *image_files[3:]], backbone) != key
    assert cache_key(image_files, build_backbone(image_size=160)) != key


def test_progress_reports_every_batch_up_to_the_total(image_files, backbone):
    seen = []
    extract_features(image_files, backbone, batch_size=2, use_cache=False, progress=seen.append)
    assert [p.done for p in seen] == [0, 2, 4, 5]
    assert all(p.total == 5 and p.stage == "features" for p in seen)


def test_empty_input_gives_empty_matrices(backbone):
    result = extract_features([], backbone, use_cache=False)
    assert result.features.shape == (0, 1280) and result.logits.shape == (0, 1000)


def test_a_distribution_strategy_gives_the_same_features(image_files, backbone):
    plain = extract_features(image_files, backbone, use_cache=False)
    mirrored = extract_features(image_files, backbone, use_cache=False, distribution="mirrored")
    np.testing.assert_allclose(mirrored.features, plain.features, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mirrored.logits, plain.logits, rtol=1e-4, atol=1e-3)
