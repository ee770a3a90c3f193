"""One seam per kind of data: the engine asks the dataset's modality, resolves the base once, and has no cycles."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from tlcore import modality as modality_module
from tlcore.analysis import analyze
from tlcore.cli import main
from tlcore.data import import_data
from tlcore.export import export_bundle
from tlcore.image.bases import auto_image_size
from tlcore.predict import predict
from tlcore.samples import sample_path
from tlcore.train import SearchConfig, TrainConfig, train

ENGINE = ["tlcore/train/__init__.py", "tlcore/train/select.py", "tlcore/analysis.py", "tlcore/strategy.py",
          "tlcore/export.py", "tlcore/predict.py", "tlcore/data/__init__.py", "tlcore/data/store.py", "tlcore/jobs.py"]


def _imports(path: Path) -> list[tuple[int, str | None, list[str]]]:
    """(level, module, names) of every import statement in `path`, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((0, a.name, []) for a in node.names)
    return found


def _module_graph() -> dict[str, set[str]]:
    """tlcore module -> the tlcore modules it imports (any import statement, at any depth)."""
    modules = {}
    for path in (REPO / "tlcore").rglob("*.py"):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges = set()
        for level, module, names in _imports(path):
            base = package.split(".")[: len(package.split(".")) - level + 1] if level else []
            target = ".".join(base + ([module] if module else [])) if level else (module or "")
            for candidate in [f"{target}.{n}" for n in names] or [target]:
                while candidate and candidate not in modules:
                    candidate = candidate.rpartition(".")[0]
                if candidate and candidate != name and not name.startswith(candidate + "."):
                    edges.add(candidate)
        graph[name] = edges
    return graph


def test_tlcore_has_no_import_cycles():
    graph = _module_graph()
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in graph[node]:
            if nxt in path:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in seen:
                seen.add(nxt)
                visit(nxt, [*path, nxt])

    seen: set[str] = set()
    for start in graph:
        if start not in seen:
            seen.add(start)
            visit(start, [start])
    assert not cycles, cycles[:5]


@pytest.mark.parametrize("path", ENGINE)
def test_the_shared_engine_imports_no_kind_of_data(path):
    """Train, analysis, the rule, export, predict and import ask the modality; they never import image/ or text/."""
    for level, module, names in _imports(REPO / path):
        where = f"{'.' * level}{module or ''}"
        parts = {*where.split("."), *names}
        assert "image" not in parts and "text" not in parts, f"{path} imports {where} {names}"
        assert "streamlit" not in where


def test_no_module_of_the_library_imports_streamlit():
    for path in (REPO / "tlcore").rglob("*.py"):
        assert not any((m or "").startswith("streamlit") for _, m, _ in _imports(path)), path


def test_analysis_resolves_the_base_once_and_training_follows_it(tmp_path):
    """The image size comes from the images once; `TrainConfig.from_analysis` carries it and the settings."""
    shapes = import_data(sample_path("shapes"), tmp_path)
    analysis = analyze(shapes)
    assert analysis.modality == "image" and analysis.base.name == "efficientnet_lite0"
    side = float(np.median(shapes.records[["width", "height"]].min(axis=1)))
    expected = auto_image_size("efficientnet_lite0", side)
    assert expected < 224  # small drawings: a smaller, cheaper base
    assert analysis.base.image_size == analysis.recommendation.settings["image_size"] == expected
    config = TrainConfig.from_analysis(analysis, budget_seconds=60.0, image_size=None)
    assert config.strategies == (analysis.recommendation.strategy,)
    assert (config.backbone, config.image_size, config.budget_seconds) == ("efficientnet_lite0", expected, 60.0)
    finetune = TrainConfig.from_analysis({"backbone": "efficientnet_lite0", "image_size": 160, "recommendation": {
        "strategy": "finetune", "settings": {"unfreeze_blocks": 8, "learning_rate": 1e-4}}})
    assert (finetune.finetune.unfreeze_blocks, finetune.finetune.learning_rate, finetune.image_size) == (8, 1e-4, 160)


def test_cli_train_follows_the_saved_analysis_and_says_so(tmp_path, capsys):
    """`analyze` then `train` (no --strategy): the recommended strategy and image size, named on stderr."""
    workspace = ["--workspace", str(tmp_path)]
    assert main(["analyze", "sample:shapes", "--json", *workspace]) == 0
    advice = json.loads(capsys.readouterr().out)
    assert main(["train", "sample:shapes", "--json", "--budget-seconds", "60", "--trials", "0", *workspace]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["strategies"] == [advice["recommendation"]["strategy"]]
    assert report["image_size"] == advice["image_size"] < 224
    assert "following the analysis of" in captured.err and f"at {advice['image_size']} px" in captured.err
    assert report["settings_from"].startswith("following the analysis")
    way = advice["recommendation"]["strategy"]  # what the advice expected of the run, beside what it took
    assert report["expected_seconds"] == {way: report["expected_seconds_to_final_bundle"]}
    assert report["expected_seconds_to_final_bundle"] == min(advice["recommendation"]["expected_seconds"][way], 60.0)
    # an explicit option wins over the recommendation
    assert main(["train", "sample:shapes", "--json", "--strategy", "predict", "--image-size", "96", *workspace]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["strategies"], report["image_size"]) == (["predict"], 96)


@pytest.fixture
def numbers_plugged_in(monkeypatch):
    """The test's own kind of data registered the way a new package would be: one entry."""
    monkeypatch.setattr(modality_module, "REGISTRY", {"numbers": "tests.plugins.numbers", **modality_module.REGISTRY})
    modality_module.get_modality.cache_clear()
    yield
    modality_module.get_modality.cache_clear()


def test_a_third_kind_of_data_runs_the_whole_flow_from_one_registry_entry(numbers_plugged_in, tmp_path):
    """Import, analyse, train, export and predict a kind of data tlcore has never heard of."""
    rng = np.random.default_rng(0)
    y = np.repeat(["low", "high"], 60)
    x = rng.normal(0, 1, (120, 3)) + np.where(y == "high", 4.0, 0.0)[:, None]
    source = tmp_path / "rows.npz"
    np.savez(source, x=x, y=y)
    dataset = import_data(source, tmp_path)
    assert dataset.modality == "numbers" and dataset.classes == ("high", "low")
    analysis = analyze(dataset)
    assert analysis.base.name == "identity" and analysis.recommendation.strategy in ("extract", "predict")
    config = TrainConfig(strategies=("extract",), baselines=("logistic_regression",), search=SearchConfig(max_trials=0),
                         budget_seconds=60.0)
    result = train(dataset, config, tmp_path)
    assert result.report["modality"] == "numbers" and result.test.accuracy >= 0.9
    with pytest.raises(Exception, match="finetune"):  # a strategy this kind of data does not have, in words
        train(dataset, dataclasses.replace(config, strategies=("finetune",)), tmp_path)
    bundle = export_bundle(result, tflite=False)
    (far_high,) = predict(bundle, ["5,5,5"])
    assert far_high["label"] == "high" and far_high["prob"] > 0.9
