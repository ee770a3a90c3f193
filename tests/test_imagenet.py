"""ImageNet class names offline, the `imagenet` and `zoo` commands, and the base as it is on real data."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from tests.conftest import REPO, shared_dataset
from tlcore.cli import main
from tlcore.image import imagenet
from tlcore.image.extract import extract_features


def test_class_names_come_from_the_package():
    assert len(imagenet.class_names()) == 1000
    assert imagenet.class_names()[285] == "Egyptian cat"
    assert imagenet.class_names()[967] == "espresso"
    assert imagenet.find_classes("Ant") == [310]
    assert imagenet.find_classes("pismire") == [310]
    assert 309 in imagenet.find_classes("bee")
    assert imagenet.wordnet_ids()[310] == "n02219486"


def test_top_k_orders_by_probability():
    probabilities = np.zeros((1, 1000))
    probabilities[0, [3, 285, 7]] = [0.2, 0.7, 0.1]
    (top,) = imagenet.top_k(probabilities, 2)
    assert [(t["index"], t["name"]) for t in top] == [(285, "Egyptian cat"), (3, "tiger shark")]
    assert top[0]["prob"] == 0.7


def test_imagenet_command_finds_the_cat_and_the_espresso(photos, backbone, capsys):
    code = main(["imagenet", str(photos["chelsea"]), str(photos["coffee"]), "--top", "3", "--json"])
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in results] == [str(photos["chelsea"]), str(photos["coffee"])]
    assert results[0]["top"][0]["index"] == 285 and results[0]["top"][0]["name"] == "Egyptian cat"
    assert results[1]["top"][0]["index"] == 967
    assert len(results[0]["top"]) == 3
    assert results[0]["top"][0]["prob"] > 0.5


def test_imagenet_command_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "notes.jpg").write_text("hello")
    cases = {
        "notes.jpg: not a readable image": ["imagenet", str(tmp_path / "notes.jpg")],
        "missing.png: not a file": ["imagenet", str(tmp_path / "missing.png")],
        "unknown base 'vgg99'": ["imagenet", str(tmp_path / "notes.jpg"), "--backbone", "vgg99"],
    }
    for expected, argv in cases.items():
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert expected in err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_zoo_lists_every_base_with_its_offline_state(capsys):
    assert main(["zoo", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert len(rows) >= 7
    assert rows["efficientnet_lite0"]["offline"] is True and rows["efficientnet_lite0"]["default"] is True
    assert rows["mobilenet_v2"]["offline"] is False  # tests run with an empty KERAS_HOME
    assert "mobilenet_v2_weights" in rows["mobilenet_v2"]["detail"]
    assert rows["resnet50_v2"]["feature_dim"] == 2048


def test_module_entry_point_runs_without_a_traceback(tmp_path):
    (tmp_path / "x.txt").write_text("not an image")
    done = subprocess.run([sys.executable, "-m", "tlcore", "imagenet", str(tmp_path / "x.txt")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error:") and "Traceback" not in done.stderr


def test_imagenet_head_tells_ants_from_bees_without_training(backbone):
    """On hymenoptera/val, the 1000-way head restricted to {ant, bee} is right >= 95% of the time."""
    folder = shared_dataset("hymenoptera") / "val"
    ant, bee = imagenet.find_classes("ant")[0], imagenet.class_names().index("bee")
    files, labels = [], []
    for label, name in enumerate(["ants", "bees"]):
        images = sorted((folder / name).glob("*.jpg"))
        files += images
        labels += [label] * len(images)
    logits = extract_features(files, backbone).logits
    predicted = np.where(logits[:, bee] > logits[:, ant], 1, 0)
    accuracy = float(np.mean(predicted == np.array(labels)))
    assert len(files) == 153
    assert accuracy >= 0.95, f"ant/bee accuracy {accuracy:.3f}"
