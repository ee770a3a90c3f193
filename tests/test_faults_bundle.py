"""Issue 36: a bundle whose model configuration was edited to ask for more than a bundle may (a Dense layer of
400,000 units, images larger than the base's size, layers no bundle is made of) is refused from its
config.json, before Keras builds anything."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras
import pytest

from tlcore.errors import BundleError
from tlcore.export import BUNDLE_FORMAT
from tlcore.predict import load_bundle

SIZE = 32


def _tiny_bundle(folder: Path) -> Path:
    """A bundle of a tiny image model, made as export makes one: raw image -> resize -> conv -> head -> softmax."""
    images = keras.Input((None, None, 3), name="image")
    x = keras.layers.Resizing(SIZE, SIZE, name="resize")(images)
    x = keras.layers.Conv2D(8, 3, name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(16, name="hidden")(x)
    outputs = keras.layers.Softmax(name="probabilities")(keras.layers.Dense(2, name="head")(x))
    folder.mkdir(parents=True)
    keras.Model(images, outputs).save(folder / "model.keras")
    (folder / "labels.json").write_text('["a", "b"]')
    (folder / "manifest.json").write_text(json.dumps({"format": BUNDLE_FORMAT, "transferlab": "0.1.0", "keras": "3",
                                                      "tensorflow": "2", "modality": "image", "image_size": SIZE}))
    return folder


def _edit_config(model: Path, change) -> None:
    """Rewrite model.keras with `change(config)` applied to its config.json, everything else as it was."""
    with zipfile.ZipFile(model) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    config = json.loads(entries["config.json"])
    change(config)
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(model, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def _layers(config: dict):
    for layer in config["config"]["layers"]:
        yield layer
        if isinstance(layer.get("config", {}).get("layers"), list):
            yield from _layers(layer)


def _set(kind: str, key: str, value):
    def change(config: dict) -> None:
        for layer in _layers(config):
            if layer["class_name"] == kind:
                layer["config"][key] = value

    return change


def _build_shape(config: dict) -> None:
    for layer in _layers(config):
        if layer["name"] == "head":
            layer["build_config"]["input_shape"] = [None, 400_000]


def _conv_on_the_raw_image(config: dict) -> None:
    """The convolution reads the uploaded image itself, any size up to the decoder's limit, not the resized one."""
    for layer in _layers(config):
        if layer["name"] == "conv":
            layer["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["image", 0, 0]


def _rename(config: dict) -> None:
    for layer in _layers(config):
        if layer["class_name"] == "GlobalAveragePooling2D":
            layer["class_name"], layer["config"] = "UpSampling2D", {"name": "pool", "size": [1000, 1000]}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return _tiny_bundle(tmp_path_factory.mktemp("bundles") / "tiny")


def test_an_honest_tiny_bundle_loads(tiny):
    bundle = load_bundle(tiny)
    assert bundle.labels == ["a", "b"] and bundle.model.get_layer("head").units == 2


@pytest.mark.parametrize("change, expected", [
    (_set("Dense", "units", 400_000), r"sets a Dense layer's units to 400000 \(expected 1 to 65,536\)"),
    (_set("Dense", "units", 60_000), r"asks for [\d,]+ weights \([\d.]+ GB\) but its weights file holds 0 MB"),
    (_conv_on_the_raw_image, r"makes a tensor of [\d,]+ values per input in a Conv2D layer"),
    (_set("Conv2D", "kernel_size", [99, 99]), r"sets kernel_size to 99"),
    (_set("Resizing", "height", 100_000), r"sets a Resizing's height to 100000 \(expected 1 to 32\)"),
    (_set("InputLayer", "batch_shape", [None, 50_000, 50_000, 3]), r"sets an input's size to 50000"),
    (_build_shape, r"sets the input channels of a Dense layer to 400000"),
    (_rename, r"names a layer 'UpSampling2D', which no TransferLab bundle is made of"),
])  # fmt: skip
def test_an_edited_model_configuration_is_refused_before_building(tiny, tmp_path, monkeypatch, change, expected):
    import shutil

    folder = tmp_path / "edited"
    shutil.copytree(tiny, folder)
    _edit_config(folder / "model.keras", change)

    def never(*args, **kwargs):
        raise AssertionError("Keras was asked to build the edited model")

    monkeypatch.setattr(keras.saving, "load_model", never)
    with pytest.raises(BundleError, match=r"model\.keras was refused before building: its configuration " + expected):
        load_bundle(folder)


def test_a_manifest_that_claims_a_huge_image_size_is_refused(tiny, tmp_path):
    import shutil

    folder = tmp_path / "edited"
    shutil.copytree(tiny, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(manifest | {"image_size": 100_000}))
    with pytest.raises(BundleError, match=r"sets the manifest's image_size to 100000 \(expected 1 to 1,024\)"):
        load_bundle(folder)


@pytest.mark.slow
def test_a_real_bundle_with_400000_unit_dense_layers_is_refused_in_little_memory(tmp_path):
    """The issue's case: an exported bundle, every Dense layer edited to 400,000 units; `predict` in a process of
    its own ends in one line, and its peak memory stays that of loading TensorFlow (the fault reached 8.7 GB)."""
    import shutil
    import subprocess
    import sys

    from tests.conftest import REPO
    from tlcore.data import import_data
    from tlcore.samples import sample_path
    from tlcore.train import TrainConfig, train

    dataset = import_data(sample_path("shapes"), tmp_path / "ws")
    result = train(dataset, TrainConfig(strategies=("predict",), image_size=96), tmp_path / "ws")
    from tlcore.export import export_bundle

    archive = export_bundle(result, tflite=False)
    folder = tmp_path / "edited"
    shutil.copytree(archive.parent / "bundle", folder)
    _edit_config(folder / "model.keras", _set("Dense", "units", 400_000))
    # VmHWM: this process's own peak (ru_maxrss would carry the forking test process's over the exec)
    measured = ("import re, sys\nfrom tlcore.cli import main\ncode = main(sys.argv[1:])\nstatus = open('/proc/self/"
                "status').read()\nprint(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\nsys.exit(code)")
    done = subprocess.run([sys.executable, "-c", measured, "predict", str(folder), str(dataset.files("test")[0])],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "refused before building" in lines[0] and "Traceback" not in done.stderr
    peak_mb = int(done.stdout.split()[-1]) / 1024  # kilobytes on Linux
    assert peak_mb < 1536, f"peak {peak_mb:.0f} MB"


# --- a text bundle whose tokenizer does not match its model ------------------------------------------------------

WORD_PIECES = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "day", "night", "##s"]


def _tiny_text_bundle(folder: Path) -> Path:
    """A text bundle made as export makes one: token ids and padding mask -> token embedding -> head, and the
    tokenizer (its vocabulary and settings) beside it."""
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    mask = keras.Input((None,), dtype="int32", name="padding_mask")
    x = keras.layers.Embedding(len(WORD_PIECES), 8, name="token_embedding")(ids)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = keras.layers.Softmax(name="probabilities")(keras.layers.Dense(2, name="head")(x))
    folder.mkdir(parents=True)
    keras.Model({"token_ids": ids, "padding_mask": mask}, outputs).save(folder / "model.keras")
    (folder / "labels.json").write_text('["pos", "neg"]')
    (folder / "manifest.json").write_text(json.dumps({"format": BUNDLE_FORMAT, "transferlab": "0.1.0", "keras": "3",
                                                      "tensorflow": "2", "modality": "text", "sequence_length": 16}))
    (folder / "tokenizer").mkdir()
    (folder / "tokenizer" / "vocabulary.txt").write_text("\n".join(WORD_PIECES) + "\n")
    (folder / "tokenizer" / "settings.json").write_text('{"kind": "keras_hub.models.BertTokenizer", '
                                                        '"lowercase": true, "strip_accents": false}')
    return folder


def test_an_honest_tiny_text_bundle_loads_and_predicts(tmp_path):
    from tlcore.predict import predict_texts

    bundle = load_bundle(_tiny_text_bundle(tmp_path / "text"))
    assert bundle.extra.vocabulary_size() == len(WORD_PIECES)
    assert predict_texts(bundle, ["good days"])[0]["label"] in ("pos", "neg")


@pytest.mark.parametrize("pieces", [WORD_PIECES + [f"extra{i}" for i in range(30_000)], WORD_PIECES[:-2]])
def test_a_tokenizer_whose_vocabulary_does_not_match_the_model_is_refused_in_one_line(tmp_path, pieces):
    folder = _tiny_text_bundle(tmp_path / "text")
    (folder / "tokenizer" / "vocabulary.txt").write_text("\n".join(pieces) + "\n")  # edited
    with pytest.raises(BundleError, match=rf"holds {len(pieces):,} word pieces but the model was built for "
                                          rf"{len(WORD_PIECES)}; the files do not belong together") as refused:
        load_bundle(folder)
    assert "\n" not in str(refused.value)


def test_a_bundles_own_predict_script_shrinks_a_huge_photo_while_decoding(tmp_path):
    """The standalone predict.py decodes as TransferLab does: a 40-megapixel photo is read at most FULL_SIDE
    pixels on its longer side (its shape kept), not held whole."""
    import importlib.util

    from PIL import Image

    from tlcore.image import decode
    from tlcore.image.bundle import predict_script

    script = tmp_path / "predict.py"
    script.write_text(predict_script(), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("bundle_predict", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    photo = tmp_path / "huge.jpg"
    Image.new("RGB", (7000, 5000), (200, 30, 30)).save(photo, quality=70)
    loaded = module.load(photo)
    assert max(loaded.shape[:2]) <= decode.FULL_SIDE and loaded.shape[2] == 3
    assert abs(loaded.shape[1] / loaded.shape[0] - 7000 / 5000) < 0.01  # its shape kept
    small = tmp_path / "small.png"
    Image.new("RGB", (300, 200), (0, 0, 255)).save(small)
    assert module.load(small).shape == (200, 300, 3)  # an ordinary photo as it is
