"""How the pages show a run's end (found in a Chromium walk-through): the first model a stopped run kept stays
downloadable, a finished run shows its final model and nothing live, and the time left says what kind it is."""

from __future__ import annotations

import importlib
import json
import shutil
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from tlcore import jobs, runs, session, words, workspaces
from tlcore.train import SearchConfig, TrainConfig
from tlcore.train.anytime import FIRST_FOLDER


def page_in(ws_id: str, name: str) -> AppTest:
    """A page of the app in the session of workspace `ws_id`, as a reload with ?ws=... opens it."""
    at = AppTest.from_file(str(REPO / "pages" / f"{name}.py"), default_timeout=300)
    at.query_params["ws"] = ws_id
    return at


def shapes_session():
    """A new workspace with the Shapes sample loaded, as the Data page leaves it: (id, folder, dataset)."""
    from tlcore.data import import_data
    from tlcore.samples import sample_path

    ws_id, folder = workspaces.create()
    dataset = import_data(sample_path("shapes"), folder)
    session.update(folder, choice="sample:shapes", dataset=dataset.stored_in.name, dataset_key="sample:shapes")
    return ws_id, folder, dataset


def train_in(folder, dataset, config: TrainConfig, strategy: str):
    """A training job of `config` submitted as the Train page submits it (jobs run at once here), and put on show."""
    run_dir = jobs.submit_training(folder, dataset.stored_in, config)
    session.update(folder, run=run_dir.name, strategy=strategy)
    return run_dir


@pytest.fixture(scope="module")
def cancelled():
    """A fine-tuning run cancelled right after its first model, the way the Cancel button stops one: `jobs.cancel`
    writes the cancel file, and the job's progress file raises at the run's next step (before fine-tuning)."""
    trainer = importlib.import_module("tlcore.train")
    ws_id, folder, dataset = shapes_session()
    original = trainer._first

    def first_then_cancel(ctx, chosen, started, callback):
        original(ctx, chosen, started, callback)
        jobs.cancel(ctx.run_dir)

    config = TrainConfig(strategies=("finetune",), image_size=96, budget_seconds=300, stop_early=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trainer, "_first", first_then_cancel)
        run_dir = train_in(folder, dataset, config, "finetune")
    assert runs.state(run_dir) == "cancelled" and "what had finished is kept" in runs.status(run_dir)["reason"]
    assert (run_dir / FIRST_FOLDER / "bundle.zip").is_file() and not (run_dir / "bundle.zip").exists()
    first = runs.read_json(run_dir / FIRST_FOLDER / "report.json")
    return ws_id, folder, run_dir, dataset, first


def _first_accuracy(first: dict) -> str:
    return f"{100 * first['test']['accuracy']:.1f}%"


# --- 1. a stopped run keeps its first model, downloadable --------------------------------------------------------


def test_the_train_page_offers_the_first_model_a_cancelled_run_kept(cancelled):
    ws_id, _, _, _, first = cancelled
    at = page_in(ws_id, "train").run()
    assert not at.exception
    assert any(w.value.startswith("It was cancelled") for w in at.warning)
    kept = next(i.value for i in at.info if "first model" in i.value)
    assert "kept when the run stopped" in kept and _first_accuracy(first) in kept and "Resume" in kept
    assert any("Always answering the largest class" in t.value for t in [*at.caption, *at.warning])
    (button,) = [b for b in at.get("download_button") if b.label.startswith("Download the first model")]
    assert _first_accuracy(first) in button.label


def test_export_offers_the_first_model_of_a_cancelled_run_and_tries_it(cancelled):
    ws_id, _, _, dataset, first = cancelled
    at = page_in(ws_id, "export").run()
    assert not at.exception
    assert not any("Train a model" in i.value for i in at.info)
    assert any("first model" in i.value and _first_accuracy(first) in i.value for i in at.info)
    assert [b.label for b in at.get("download_button")] == [
        f"Download the first model (bundle-first.zip, test accuracy {_first_accuracy(first)})"]
    photo = dataset.files("test")[0]
    at.file_uploader[0].upload(photo.name, photo.read_bytes(), "image/png").run()
    assert not at.exception
    spec = at.get("plotly_chart")[0].proto.spec
    assert any(name in spec for name in dataset.classes)  # the first model answered with one of the classes


def test_runs_shows_that_a_cancelled_run_kept_a_downloadable_model(cancelled):
    ws_id, _, run_dir, _, first = cancelled
    at = page_in(ws_id, "runs").run()
    assert not at.exception
    row = at.dataframe[0].value.set_index("run").loc[run_dir.name]
    assert row["state"] == "cancelled" and bool(row["bundle"])
    assert row["model"].startswith("first model, kept: ") and row["accuracy"] == f"{_first_accuracy(first)} on test"
    assert f"cancelled, first model {_first_accuracy(first)}" in at.selectbox[0].options[0]
    assert [b.label for b in at.get("download_button")] == [
        f"Download the first model (bundle-first.zip, test accuracy {_first_accuracy(first)})"]
    assert {b.label for b in at.button} >= {"Resume", "Open this run"}


def test_results_says_which_model_a_cancelled_run_kept(cancelled):
    ws_id, _, _, _, first = cancelled
    at = page_in(ws_id, "results").run()
    assert not at.exception
    assert any("first model" in i.value and _first_accuracy(first) in i.value for i in at.info)
    assert not any("Train a model" in i.value for i in at.info)


@pytest.mark.parametrize("ended", ["interrupted", "failed"])
def test_an_interrupted_or_failed_run_with_a_first_model_keeps_it_too(cancelled, ended):
    _, _, run_dir, _, first = cancelled
    ws_id, folder = workspaces.create()
    copy = folder / "runs" / run_dir.name
    shutil.copytree(run_dir, copy)
    runs.set_status(copy, ended, **({"error": "the disk is full"} if ended == "failed" else
                                    {"reason": "its process stopped: no heartbeat for 40 s"}))
    session.update(folder, run=copy.name)
    at = page_in(ws_id, "export").run()
    assert not at.exception
    kept = next(i.value for i in at.info if "first model" in i.value)
    assert ("Resume" in kept) == (ended != "failed")  # a failed run cannot be resumed
    assert [b.label for b in at.get("download_button")] == [
        f"Download the first model (bundle-first.zip, test accuracy {_first_accuracy(first)})"]


# --- 2. a finished run: its final result and download, nothing live -------------------------------------------------


@pytest.fixture(scope="module")
def complete():
    """A short extract run (the scikit-learn heads, no search) on the Shapes sample, complete with its bundle."""
    ws_id, folder, dataset = shapes_session()
    config = TrainConfig(strategies=("extract",), image_size=96, budget_seconds=300, search=SearchConfig(max_trials=0))
    run_dir = train_in(folder, dataset, config, "extract")
    assert runs.state(run_dir) == "complete" and (run_dir / "bundle.zip").is_file()
    assert (run_dir / FIRST_FOLDER / "bundle.zip").is_file()  # it had a first model too
    return ws_id, runs.read_json(run_dir / "report.json")


def test_a_finished_run_shows_its_final_model_to_download_and_nothing_live(complete):
    ws_id, report = complete
    at = page_in(ws_id, "train").run()
    assert not at.exception
    assert at.success[0].value.startswith("Done. Selected on the validation split")
    final = f"{100 * report['test']['accuracy']:.1f}%"
    assert [b.label for b in at.get("download_button")] == [
        f"Download the trained model (bundle.zip, test accuracy {final})"]
    assert not any("Best so far" in i.value for i in at.info)
    assert not any("While it trains" in c.value or "A later model replaces it" in c.value for c in at.caption)
    bar = at.get("progress")[0].proto.text
    assert ": 100% done; " in bar and bar.endswith(" elapsed")  # the bar at 100%, no step, no time left
    table = at.dataframe[-1].value
    assert list(table.columns)[:4] == ["Selected", "Model", "Validation accuracy", "Test accuracy"]  # none cut off
    # shown as "Validation" and "Test", with the full meaning on hover (walk 9 still scrolled sideways at 1280 px)
    shown = {name: column["label"] for name, column in json.loads(at.dataframe[-1].proto.columns).items()
             if "label" in column}
    assert shown == {"Validation accuracy": "Validation", "Test accuracy": "Test"}
    untested = (table["Test accuracy"] == words.UNTESTED).any()  # this run stopped after its first model: none
    assert [c.value for c in at.caption].count(words.UNTESTED_WHY) == int(untested)
    # how validation chose: walk 9 saw a simpler model kept below a better score and read a contradiction
    assert any(c.value.startswith("Validation accuracy chose the model: the simplest within one standard error of "
                                  "the best on validation") for c in at.caption)


def test_a_table_of_models_not_all_tested_says_once_what_not_tested_means():
    def script():
        import streamlit as st

        from pages.common import scores_in_context

        row = {"strategy": "extract", "model": "ridge", "val_accuracy": 0.9, "test_accuracy": None,
               "train_seconds": 0.1, "size_bytes": 1e6, "latency_ms": 1.0, "selected": False}
        scores_in_context({"backbone": "efficientnet_lite0", "leaderboard": [
            row | {"model": "logistic_regression", "test_accuracy": 0.95, "selected": True}, row, row]}, st.caption)

    at = AppTest.from_function(script, default_timeout=60).run()
    assert not at.exception
    assert list(at.dataframe[0].value["Test accuracy"]) == ["95.0%", words.UNTESTED, words.UNTESTED]
    assert [c.value for c in at.caption] == [words.UNTESTED_WHY]


def test_the_export_page_loads_its_bundle_once_while_it_is_unchanged(complete, monkeypatch):
    """Every rerun (a button pressed, an image tried) had unzipped the bundle and loaded its model again (~2 s)."""
    import os

    from tlcore import predict

    ws_id, _ = complete
    loads, real = [], predict.load_bundle
    monkeypatch.setattr(predict, "load_bundle", lambda path: loads.append(str(path)) or real(path))
    at = page_in(ws_id, "export").run()
    at.run()
    at.run()
    opened = [path for path in loads if path.endswith(".zip")]  # a zip is loaded through its unpacked folder
    assert not at.exception and at.get("download_button") and len(opened) <= 1  # at most the first time
    archive = next(workspaces.open_workspace(ws_id).glob("runs/*/bundle.zip"))
    os.utime(archive, ns=(time.time_ns(), time.time_ns() + 10**9))  # zipped again (TFLite copies added)
    before = len(loads)
    at.run()
    assert not at.exception and str(archive) in loads[before:]  # a changed bundle is loaded anew


def test_results_labels_the_calibration_change_and_puts_selected_first(complete):
    ws_id, report = complete
    at = page_in(ws_id, "results").run()
    assert not at.exception
    calibration = next(m for m in at.metric if m.label == "Calibration error")
    assert calibration.delta.endswith(f"from {report['test']['ece_before']:.3f} before scaling")
    assert list(at.dataframe[0].value.columns)[:2] == ["Selected", "Model"]


def test_a_complete_run_whose_final_bundle_failed_offers_its_first_model(monkeypatch):
    """The run completed but its final bundle could not be built: Train and Export say why and offer the first
    model's bundle (whole and tested) instead of a dead end that says to train again."""
    import tlcore.export as export
    from tlcore.errors import SettingError

    original = export.export_bundle

    def final_fails(result, *args, **kwargs):
        if result.run_dir.name != FIRST_FOLDER:
            raise SettingError("the model could not be saved: no space left on the device")
        return original(result, *args, **kwargs)

    monkeypatch.setattr(export, "export_bundle", final_fails)
    ws_id, folder, dataset = shapes_session()
    config = TrainConfig(strategies=("extract",), image_size=96, budget_seconds=300,
                         baselines=("logistic_regression",), search=SearchConfig(max_trials=0))
    run_dir = train_in(folder, dataset, config, "extract")
    assert runs.state(run_dir) == "complete" and not (run_dir / "bundle.zip").exists()
    first = runs.read_json(run_dir / FIRST_FOLDER / "report.json")
    for name in ("train", "export"):
        at = page_in(ws_id, name).run()
        assert not at.exception
        (said,) = [w.value for w in at.warning if w.value.startswith("This run has no bundle")]
        assert "the model could not be saved" in said and "first model is whole and tested" in said
        assert [b.label for b in at.get("download_button")] == [
            f"Download the first model (bundle-first.zip, test accuracy {_first_accuracy(first)})"]
        assert any("Always answering the largest class" in t.value for t in [*at.caption, *at.warning])


# --- 3. the time left says whether it is expected or what the budget leaves -----------------------------------------


PACES = {  # how the job knows its time left -> the ProgressFile that writes it
    "expected": {"budget_seconds": 600.0, "expected_seconds": 300.0},  # the analysis expected 300 s
    "budget": {"budget_seconds": 300.0},  # no expectation: what the budget leaves
    "past expected": {"budget_seconds": 300.0, "expected_seconds": 100.0},  # late: the budget's, and said so
    "a little longer": {"budget_seconds": 300.0, "expected_seconds": 200.0},  # past it, within its precision
    "analysis": {},  # no budget: the share of the stage done gives the estimate
}


def running_run(pace: str, older: bool):
    """A running job's folder whose progress file, written by `jobs.ProgressFile`, is 1:23 before its end (`older`:
    without `remaining_is`, as jobs before it wrote it); a workspace that shows it."""
    ws_id, folder = workspaces.create()
    run_dir = folder / "runs" / runs.new_run_id()
    budget = PACES[pace].get("budget_seconds")
    job = {"kind": "training" if budget else "analysis", "dataset": "", "submitted": time.time()}
    runs.write_json(run_dir / jobs.JOB_FILE, job | ({"budget_seconds": budget} if budget else {}))
    runs.set_status(run_dir, "running")
    tracker = jobs.ProgressFile(run_dir, **PACES[pace], started=time.time() - 216.5)
    tracker.write("search", 216.5 / 300, "trial 2 of the head search", "2/5")
    tracker.stop()
    progress = jobs.read_progress(run_dir)
    assert progress["remaining"] == pytest.approx(83.5, abs=0.4)
    if older:
        del progress["remaining_is"]
        runs.write_json(run_dir / jobs.PROGRESS_FILE, progress)
    session.update(folder, run=run_dir.name)
    return ws_id, run_dir


@pytest.mark.parametrize(("pace", "older", "said"), [
    ("expected", False, "about 1:23 left"),
    ("budget", False, "at most 1:23 left (the time budget)"),
    ("budget", True, "at most 1:23 left (the time budget)"),  # an older run's file: the budget's
    ("past expected", False, ", past the expected time, at most 1:23 left (the time budget)"),
    ("a little longer", False, "elapsed, a little longer than expected"),  # 216 s of an expected 200: not late
    ("analysis", False, "about 1:23 left"),
    ("analysis", True, "about 1:23 left"),  # an older file of a job without a budget: never "the budget"
])
def test_the_time_left_says_whether_it_is_expected_or_the_budget(pace, older, said):
    ws_id, run_dir = running_run(pace, older)
    with runs.Heartbeat(run_dir):
        at = page_in(ws_id, "results").run()
    assert not at.exception
    text = at.get("progress")[0].proto.text
    assert text.startswith(f"Run {run_dir.name}: ")
    assert "% done; now training small networks, 2 of 5 trials done; 3:36 elapsed" in text
    assert text.endswith(said)
    assert ("at most" in text) == ("at most" in said)


def test_a_run_explaining_its_mistakes_offers_its_final_bundle_at_once():
    """Walk 7: the final bundle was ready 5 s before the button, which waited for the explanations."""
    ws_id, run_dir = running_run("budget", False)
    runs.write_json(run_dir / "report.json", {"test": {"accuracy": 0.925}})
    with runs.Heartbeat(run_dir):
        before = page_in(ws_id, "results").run()
        runs.write_atomic(run_dir / "bundle.zip", b"PK")
        after = page_in(ws_id, "results").run()
    assert not before.exception and not after.exception
    assert not any(b.label.startswith("Download the trained model") for b in before.get("download_button"))
    assert [b.label for b in after.get("download_button")] == [
        "Download the trained model now (bundle.zip, test accuracy 92.5%); the run is still explaining its mistakes"]
