"""Where the model looks: Grad-CAM on a bundle's own model falls on the shape it names; explanations are written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tlcore.cli import main
from tlcore.explain import explain_mistakes, stored_explanations
from tlcore.image.data import import_dataset
from tlcore.image.decode import load_rgb
from tlcore.image.explain import grad_cam
from tlcore.predict import load_bundle

SIZE = 224
CELL = SIZE // 7  # EfficientNet-Lite0's last block is 7 x 7 at 224 px: one value per 32 px square


def draw_shapes(root, per_class: int, seed: int = 0) -> dict:
    """Circles, squares and triangles of random colour, size and place on grey noise; {(file, class): box}."""
    rng = np.random.default_rng(seed)
    boxes = {}
    for shape in ("circle", "square", "triangle"):
        (root / shape).mkdir(parents=True)
        for i in range(per_class):
            image = Image.fromarray(rng.integers(90, 166, (SIZE, SIZE, 3)).astype(np.uint8))
            side = int(rng.integers(SIZE // 4, SIZE * 2 // 5))
            x0, y0 = (int(v) for v in rng.integers(0, SIZE - side, 2))
            box = (x0, y0, x0 + side, y0 + side)
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            draw = ImageDraw.Draw(image)
            if shape == "triangle":
                draw.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) // 2, box[1])], fill=colour)
            else:
                (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=colour)
            image.save(root / shape / f"{i:03d}.png")
            boxes[f"{i:03d}.png", shape] = box
    return boxes


@pytest.fixture(scope="module")
def shapes_bundle(tmp_path_factory):
    from tlcore.export import export_bundle
    from tlcore.train import SearchConfig, TrainConfig, train

    workspace = tmp_path_factory.mktemp("drawn")
    boxes = draw_shapes(workspace / "drawn", 40)
    dataset = import_dataset(workspace / "drawn", workspace)
    result = train(dataset, TrainConfig(strategies=("extract",), image_size=SIZE, baselines=("logistic_regression",),
                                        search=SearchConfig(max_trials=0)), workspace)
    archive = export_bundle(result, tflite=False)
    return dataset, result, archive, boxes


def test_the_heatmap_falls_mostly_on_the_shape(shapes_bundle):
    """Most of the map's mass lies on the shape's square, widened by half a cell of the 7 x 7 map (16 px) since
    the map is that coarse: far more than the area it covers."""
    dataset, result, archive, boxes = shapes_bundle
    assert result.test.accuracy >= 0.9
    bundle = load_bundle(archive)
    inside, area = [], []
    for path in dataset.files("test"):
        x0, y0, x1, y1 = boxes[path.name, path.parent.name]
        x0, y0, x1, y1 = max(x0 - CELL // 2, 0), max(y0 - CELL // 2, 0), x1 + CELL // 2, y1 + CELL // 2
        heatmap, _ = grad_cam(bundle.model, load_rgb(path), bundle.labels.index(path.parent.name))
        assert heatmap.shape == (SIZE, SIZE) and heatmap.max() == pytest.approx(1.0)
        inside.append(heatmap[y0:y1, x0:x1].sum() / heatmap.sum())
        area.append((min(x1, SIZE) - x0) * (min(y1, SIZE) - y0) / SIZE**2)
    assert np.mean(inside) > 0.5, inside
    assert all(share > 2 * a for share, a in zip(inside, area, strict=True)), list(zip(inside, area, strict=True))


def test_mistakes_and_inputs_are_explained_with_pictures(shapes_bundle, tmp_path, capsys):
    dataset, _, archive, _ = shapes_bundle
    bundle = load_bundle(archive)
    files = [str(p) for p in dataset.files("test")[:2]]
    mistakes = [{"file": f, "true": "circle", "predicted": "square", "confidence": 0.9} for f in files]
    entries = explain_mistakes(tmp_path, bundle, mistakes)
    assert stored_explanations(tmp_path) == json.loads(json.dumps(entries))
    picture = Image.open(tmp_path / "explain" / entries[0]["picture"])
    assert picture.size == (SIZE, SIZE) and "Grad-CAM" in entries[0]["method"]
    assert main(["explain", str(archive), *files, "--out", str(tmp_path / "out"), "--json"]) == 0
    explained = json.loads(capsys.readouterr().out)
    assert [e["label"] for e in explained] == [dataset.classes[y] for y in dataset.labels("test")[:2]]
    assert all(Image.open(e["picture"]).size == (SIZE, SIZE) for e in explained)
