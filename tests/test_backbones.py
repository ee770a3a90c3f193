"""The registry of bases, the offline base's conversion cache, and the download-failure message."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest

from tlcore.errors import SettingError, TLCoreError, UnknownNameError, WeightsUnavailableError
from tlcore.image import bases as backbones
from tlcore.image.bases import REGISTRY, build_backbone, get_spec
from tlcore.image.decode import load_rgb


def test_registry_offers_the_offline_base_and_six_keras_applications():
    keras_bases = [s for s in REGISTRY.values() if s.source == "keras"]
    assert len(keras_bases) >= 6
    default = REGISTRY[backbones.DEFAULT_BACKBONE]
    assert default.source == "pip" and default.feature_dim == 1280 and default.input_size == 224
    assert default.availability()[0], default.availability()[1]


def test_unknown_base_lists_the_valid_names():
    with pytest.raises(UnknownNameError) as info:
        get_spec("resnet9000")
    message = str(info.value)
    assert "resnet9000" in message
    assert all(name in message for name in REGISTRY)
    assert isinstance(info.value, TLCoreError)


def test_failed_download_names_the_file_and_the_folder(monkeypatch):
    """Simulate the offline machine at the lowest level Keras uses to fetch a file."""
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution (simulated)")

    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    spec = get_spec("mobilenet_v2")
    assert not spec.availability()[0]
    assert spec.weights_file in spec.availability()[1]

    with pytest.raises(WeightsUnavailableError) as info:
        build_backbone("mobilenet_v2")
    message = str(info.value)
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5" in message
    assert str(spec.weights_path().parent) in message
    assert "efficientnet_lite0" in message  # the way out that needs no file


def test_fixed_size_base_refuses_another_size():
    with pytest.raises(SettingError, match="224"):
        build_backbone("mobilenet_v2", image_size=128)


def test_converted_weights_are_cached_and_reused(backbone, photos, monkeypatch):
    """The first build converted the .pth file; later builds must not read it again."""
    from tlcore.image import torch_legacy

    def must_not_read(path):
        raise AssertionError("the .pth file was read again instead of the cached Keras weights")

    monkeypatch.setattr(torch_legacy, "load_state_dict", must_not_read)
    fresh = build_backbone()
    image = load_rgb(photos["chelsea"], 224)[None]
    np.testing.assert_allclose(fresh.model.predict(image, verbose=0)[1], backbone.model.predict(image, verbose=0)[1],
                               rtol=1e-5, atol=1e-5)


def test_raw_input_resizes_once_for_images_of_any_size(backbone, photos):
    """An exported model resizes raw photos once, then the base normalises inside: a 451x300 photo gives the cat."""
    import keras

    raw = load_rgb(photos["chelsea"])
    assert raw.shape[:2] != (224, 224)
    images, resized = backbone.raw_input()
    model = keras.Model(images, backbone.extractor(resized))
    features, logits = model.predict(raw[None].astype("float32"), verbose=0)
    assert features.shape == (1, 1280)
    assert int(np.argmax(logits)) == 285
    assert not any(isinstance(layer, keras.layers.Resizing) for layer in backbone.model.layers)  # no second resize


def test_fresh_copy_and_own_preprocessing(backbone, photos):
    """`fresh()` gives an independent base of the same size; `preprocess` is the spec's normalisation."""
    fresh = backbone.fresh()
    assert (fresh.spec, fresh.image_size) == (backbone.spec, backbone.image_size) and fresh.body is not backbone.body
    pixels = np.array([[[0.0, 127.0, 255.0]]], np.float32)
    np.testing.assert_allclose(np.asarray(backbone.preprocess(pixels)), (pixels - 127.0) / 128.0, atol=1e-6)


def test_smaller_image_size_builds_a_smaller_forward_pass(photos):
    small = build_backbone(image_size=128)
    features, logits = small.model.predict(load_rgb(photos["coffee"], 128)[None], verbose=0)
    assert small.image_size == 128
    assert features.shape == (1, 1280) and logits.shape == (1, 1000)
    assert 967 in np.argsort(-logits[0])[:5]  # espresso stays among the top 5 at a quarter of the pixels


def test_shared_and_fresh_models_are_separate_objects(backbone):
    fresh = build_backbone()
    assert fresh.model is not backbone.model
    fresh.body.trainable = True
    assert not backbone.body.trainable


def test_folded_extractor_matches_the_trainable_model(backbone, photos):
    """Folding BatchNorm into the convolutions must not change what the base computes."""
    assert backbone.extractor is not backbone.model
    assert not any(layer.__class__.__name__ == "BatchNormalization" for layer in backbone.extractor.layers[-2].layers)
    images = np.stack([load_rgb(photos[name], 224) for name in ("chelsea", "coffee")]).astype("float32")
    folded_features, folded_logits = backbone.extractor.predict(images, verbose=0)
    features, logits = backbone.model.predict(images, verbose=0)
    np.testing.assert_allclose(folded_features, features, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(folded_logits, logits, rtol=1e-4, atol=1e-3)


def test_a_weights_file_with_foreign_entries_is_refused_in_words():
    import numpy as np

    from tlcore.errors import TLCoreError, WeightsUnavailableError
    from tlcore.image import efficientnet_lite, torch_legacy
    from tlcore.image.bases import get_spec

    state = dict(torch_legacy.load_state_dict(get_spec("efficientnet_lite0").weights_path()))
    state["_extra.weight"] = np.zeros(3, np.float32)
    with pytest.raises(WeightsUnavailableError, match=r"does not match EfficientNet-Lite0.*reinstall") as refused:
        body, head = efficientnet_lite.build_body(96), efficientnet_lite.build_head()
        head(body.output)  # builds the head, as the base's own builder does
        efficientnet_lite.assign_weights(body, head, state)
    assert isinstance(refused.value, TLCoreError)
