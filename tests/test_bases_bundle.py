"""Lite1 and Lite2 go through training, fine-tuning and the bundle as Lite0 does: same answers outside TransferLab."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tests.conftest import answered_and_tested
from tlcore.export import export_bundle
from tlcore.image.data import import_dataset
from tlcore.predict import load_bundle, predict
from tlcore.samples import sample_path
from tlcore.train import FinetuneConfig, SearchConfig, TrainConfig, train


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return import_dataset(sample_path("shapes"), tmp_path_factory.mktemp("ws"))


@pytest.mark.slow  # trains, exports and runs predict.py in a fresh process: 20-30 s per base on 2 busy cores
@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_a_bundle_on_each_new_base_answers_the_same_in_a_fresh_process(shapes, tmp_path, name):
    config = TrainConfig(strategies=("extract",), backbone=name, image_size=96, baselines=("logistic_regression",),
                         search=SearchConfig(max_trials=0))
    result = train(shapes, config, tmp_path)
    assert result.report["backbone"] == name
    archive = export_bundle(result, tflite=False)
    bundle = load_bundle(archive)
    files = [str(p) for p in shapes.files("test")]
    inside = predict(bundle, files)
    np.testing.assert_allclose(*answered_and_tested(bundle, inside, result), atol=1e-4)

    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    done = subprocess.run([sys.executable, "-I", str(folder / "predict.py"), "--json", *files],
                          capture_output=True, text=True, timeout=600, cwd=folder)
    assert done.returncode == 0, done.stderr[-2000:]
    outside = json.loads(done.stdout)
    assert [r["label"] for r in outside] == [r["label"] for r in inside]
    for a, b in zip(outside, inside, strict=True):
        np.testing.assert_allclose([t["prob"] for t in a["top"]], [t["prob"] for t in b["top"]], atol=1e-5)


@pytest.mark.slow  # one epoch of fine-tuning Lite2's top blocks: ~40 s on 2 busy cores
def test_fine_tuning_lite2_unfreezes_its_top_blocks_of_21(shapes, tmp_path):
    from tlcore.image.bases import build_backbone
    from tlcore.image.finetune import unfreeze_top

    base = build_backbone("efficientnet_lite2", 96)
    trainable = unfreeze_top(base, 2)
    names = {layer.name for layer in base.body.layers if layer.trainable and layer.weights}
    assert trainable > 0 and names
    assert all(n.startswith(("blocks_19_", "blocks_20_", "conv_head", "bn1")) for n in names), sorted(names)
    config = TrainConfig(strategies=("finetune",), backbone="efficientnet_lite2", image_size=96, baselines=(),
                         finetune=FinetuneConfig(epochs=1, unfreeze_blocks=2))
    result = train(shapes, config, tmp_path)
    assert result.selected.strategy == "finetune" and result.test.accuracy > 0.3
