"""Rough edges a new user hit (issue 35, items 2-5 and 11): what the Results, Export and Runs pages say."""

from __future__ import annotations

import ast
import json
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO


def page_in(ws_id: str, name: str) -> AppTest:
    """A page of the app in the session of workspace `ws_id` (as a reload with ?ws=... would open it)."""
    at = AppTest.from_file(str(REPO / "pages" / f"{name}.py"), default_timeout=300)
    at.query_params["ws"] = ws_id
    return at


def workspace_with_run(run_id: str | None = None):
    """A new workspace (id, folder), with `run_id` as its session's run on show."""
    from tlcore import session, workspaces

    ws_id, folder = workspaces.create()
    if run_id:
        session.update(folder, run=run_id)
    return ws_id, folder


def fake_unfinished_run(folder, run_id: str, state: str, dataset_source: str = "flowers") -> None:
    """A run as the job writes it while it works (or after it was cancelled): status, heartbeat, job, request."""
    from tlcore import runs

    datasets = folder / "datasets" / "abc"
    runs.write_json(datasets / "dataset.json", {"source": dataset_source, "classes": ["a", "b"]})
    run_dir = folder / "runs" / run_id
    runs.write_json(run_dir / runs.REQUEST_FILE, {"fingerprint": "0", "request": {"strategies": ["extract"]}})
    runs.write_json(run_dir / "job.json", {"kind": "training", "dataset": str(datasets), "submitted": time.time()})
    runs.set_status(run_dir, state)
    runs.write_json(run_dir / runs.HEARTBEAT_FILE, {"time": time.time()})
    if state == "running":
        runs.write_json(run_dir / "progress.json", {"stage": "search", "fraction": 0.4, "elapsed": 12, "remaining": 18,
                                                    "count": "2/5", "message": "trial 2 of the head search"})
        runs.write_json(run_dir / "best_so_far.json", {"strategy": "extract", "model": "logistic_regression",
                                                       "base": "", "val_accuracy": 0.9, "val_items": 30,
                                                       "seconds": 4.0, "replaced": 0, "first_seconds": 4.0})


# --- item 4: Results while the run trains ------------------------------------------------------------------------


def test_progress_steps_are_named_in_words_and_keep_the_base_they_read_through():
    from tlcore.words import step_words

    assert step_words("rank bases") == "comparing the bases"  # "rank bases 2/3" meant nothing to a newcomer
    assert step_words("features (EfficientNet-Lite1)") == "reading each item through the base (EfficientNet-Lite1)"
    assert step_words("a step of tomorrow") == "a step of tomorrow"


def test_a_steps_count_is_said_in_its_units_and_left_out_where_it_says_nothing():
    from tlcore.words import step_line

    # a walk read "67% done; now quick models on the features 0/6" as the share and the step disagreeing
    assert step_line("baselines", "0/6") == "fitting quick models on the features, 0 of 6 models done"
    assert step_line("features (EfficientNet-Lite1)", "64/180") == ("reading each item through the base "
                                                                    "(EfficientNet-Lite1), 64 of 180 items done")
    assert step_line("tflite", "2/28") == "making the TFLite copies, 2 of 28 done"  # no unit: still a count
    assert step_line("bundle", "0/1") == "building the download"  # "0/1" said nothing
    assert step_line("features", "180/180") == "reading each item through the base"  # done, beside "1% done"
    assert step_line("search", "") == step_line("search", "2/x") == "training small networks"


def test_under_a_second_left_of_the_expected_time_is_almost_done_not_a_stuck_clock(tmp_path):
    from pages.common import time_left

    assert time_left(tmp_path, {"remaining": 0.4, "remaining_is": "expected"}) == ", almost done"
    assert time_left(tmp_path, {"remaining": 61, "remaining_is": "expected"}) == ", about 1:01 left"


def test_a_duration_under_half_a_second_is_not_said_as_no_time_at_all():
    from tlcore.progress import duration

    # a finished run read "First model after 0 s" after 30 s on the page: its first model came 0.4 s after the start
    assert duration(0.4) == "under 1 s" and duration(0.6) == "1 s" and duration(125) == "2 min 5 s"


def test_the_anytime_note_says_its_times_count_from_the_run_start_not_from_pressing_train():
    from tlcore.words import anytime_note

    # a walk read "First model after 0 s, final after 2 s" beside "From pressing Train: ... after 2 s ... after 3 s"
    note = anytime_note({"time_to_first_model": 0.6, "time_to_final_model": 2.2, "replaced": 0, "stopped_early": []})
    assert note == "The run had its first model 1 s after it started and its final one after 2 s."  # an older report
    # walk 9 read "its final one after 1 min 39 s" (the run's end) for a model found at 3 s: the kept one's time
    found = {"time_to_first_model": 2.6, "time_to_kept_model": 3.1, "time_to_final_model": 99.0, "replaced": 1,
             "stopped_early": []}
    assert anytime_note(found) == ("The run had its first model 3 s after it started, the one it kept after 3 s "
                                   "(replaced 1 time by a better one), and ended after 1 min 39 s.")
    kept_first = found | {"time_to_kept_model": 2.6, "replaced": 0}
    assert anytime_note(kept_first) == "The run had its first model 3 s after it started, kept it, and ended after " \
                                       "1 min 39 s."


def results_of_unfinished_run(state: str, suffix: str) -> tuple[AppTest, str, str]:
    """The Results page of a new workspace whose run on show is unfinished (`state`): (page, run id, workspace id)."""
    run_id = time.strftime("%Y%m%d-%H%M%S") + f"-{suffix}"
    ws_id, folder = workspace_with_run(run_id)
    fake_unfinished_run(folder, run_id, state)
    at = page_in(ws_id, "results").run()
    assert not at.exception
    return at, run_id, ws_id


def test_a_queued_run_a_worker_has_taken_says_it_is_starting():
    """Off the queue but not yet running (a worker loading what the job needs) read "waiting in the queue, next"."""
    at, run_id, _ = results_of_unfinished_run("queued", "aa02")
    assert any(f"Run {run_id}: starting (a worker has taken it)" in i.value for i in at.info)
    assert not any("waiting in the queue" in i.value for i in at.info)


def test_the_expected_accuracy_is_said_beside_the_test_score_with_the_test_splits_noise():
    from tlcore.words import expected_accuracy_note

    agree = expected_accuracy_note(0.945, 0.90, 80)  # the walk's digits: 4.5 points on 80 items is within noise
    assert agree == ("The advice expected about 94.5% for this way, estimated on your training and validation data; "
                     "the test split measured 90.0%, give or take 3.6 points on its 80 items: the two agree within "
                     "what the test split can tell.")
    below = expected_accuracy_note(0.945, 0.80, 300)
    assert below.endswith(": 14.5 points below the estimate, more than the test split's own noise explains.")
    perfect = expected_accuracy_note(1.0, 1.0, 27)  # 27 of 27 right is not an exact measurement
    assert "give or take 4.7 points on its 27 items: the two agree" in perfect


def test_a_jobs_wall_note_counts_from_pressing_train_and_says_what_it_waited():
    from tlcore.words import wall_note

    wall = {"seconds_to_first_bundle": 3.0, "seconds_to_final_bundle": 12.0, "budget_seconds": 300}
    assert wall_note(wall).startswith("From the start: the first model's bundle after 3 s, the final bundle after 12 s")
    waited = wall_note(wall | {"seconds_waiting": 5.0}, 12.0)
    assert waited == ("From pressing Train: the first model's bundle after 8 s, the final bundle after 17 s (budget "
                      "5 min 0 s, from the job's start: it waited 5 s for a worker); the advice expected about 12 s.")
    assert "waited" not in wall_note(wall | {"seconds_waiting": 0.3})  # a worker that took it at once


def test_before_train_the_expected_time_is_the_analysiss_or_says_which_base_it_timed():
    from tlcore.words import expected_before_note

    assert expected_before_note(45.0, 300.0, {"backbone": "efficientnet_lite0"}).startswith(
        "Expected on this machine: about 45 s from pressing Train")
    assert expected_before_note(300.0, 300.0, {}).startswith("Expected on this machine: the whole budget (5 min 0 s)")
    other = expected_before_note(None, 300.0, {"backbone": "efficientnet_lite0", "image_size": 128})
    assert other.startswith("No expected time for this choice: the analysis timed EfficientNet-Lite0 at 128 px.")
    assert expected_before_note(None, 300.0, {}) == ""  # no analysis: nothing to say


def test_the_best_so_far_says_when_it_came_apart_from_the_runs_first_model():
    from tlcore.words import best_so_far_line

    best = {"strategy": "extract", "model": "logistic_regression", "base": "", "val_accuracy": 0.9, "val_items": 30,
            "seconds": 4.0, "replaced": 0, "first_seconds": 4.0}
    assert "90.0% of the 30 validation items right (the run's first model, after 4 s)." in best_so_far_line(best)
    later = best_so_far_line(best | {"strategy": "finetune", "model": "finetune_top12", "seconds": 186.0,
                                     "replaced": 1, "base": "efficientnet_lite0"})
    assert later.startswith("Best so far: **Fine-tuned EfficientNet-Lite0 (top 12 blocks)**")
    assert "(found after 3 min 6 s; the run's first model came after 4 s)." in later


def test_the_live_chart_shows_accuracies_in_percent_against_trials_and_epochs():
    from tlcore.jobs import POINT_WORDS
    from tlcore.words import chart_points

    points = [{"step": f"{stage} {n}", "metric": POINT_WORDS[(stage, key)], "value": value}
              for stage, n, key, value in [("search", 1, "val_accuracy", 0.9), ("search", 1, "best_val_accuracy", 0.9),
                                           ("finetune", 3, "loss", 0.7), ("finetune", 3, "val_accuracy", 0.955)]]
    frame = chart_points(points)
    assert list(frame.columns) == ["trial or epoch", "measure", "% right"]
    assert frame["trial or epoch"].tolist() == ["trial 1", "trial 1", "epoch 3"]  # not "search 1", "finetune 3"
    assert frame["% right"].tolist() == [90.0, 90.0, 95.5]  # and no loss on the same axis
    assert chart_points([]).empty


def test_results_shows_the_running_run_and_its_progress():
    at, run_id, ws_id = results_of_unfinished_run("running", "aa01")
    assert not any("Train a model" in i.value for i in at.info)
    bars = at.get("progress")
    assert bars and f"Run {run_id}: 40% done; now training small networks, 2 of 5 trials done; " in bars[0].proto.text
    assert any("Best so far: **Logistic regression**, 90.0%" in i.value for i in at.info)
    export = page_in(ws_id, "export").run()  # the Export page follows it too
    assert not export.exception and export.get("progress")


# --- item 5: the Runs page in words --------------------------------------------------------------------------------


def test_the_runs_table_speaks_words_and_the_picker_reads_like_a_sentence():
    from tlcore import runs

    year = time.strftime("%Y")
    done, running, cancelled = f"{year}1202-140501-ab12", f"{year}1202-150000-cd34", f"{year}1201-090000-ef56"
    ws_id, folder = workspace_with_run()
    run_dir = folder / "runs" / done
    runs.write_json(run_dir / "report.json", {
        "source": "flowers", "strategy": "finetune", "backbone": "efficientnet_lite0", "seconds": 60,
        "selected": {"strategy": "finetune", "model": "finetune_top6"}, "test": {"accuracy": 1.0}})
    runs.set_status(run_dir, "complete")
    fake_unfinished_run(folder, running, "running")
    fake_unfinished_run(folder, cancelled, "cancelled")
    (folder / "runs" / cancelled / "progress.json").unlink(missing_ok=True)

    at = page_in(ws_id, "runs").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert not [c for c in table.columns if "_" in c]  # no raw names such as test_accuracy
    cells = [str(v) for v in table.drop(columns=["bundle"]).to_numpy().ravel()]
    assert not {"None", "nan", "NaN", "not measured"} & set(cells)
    by_run = table.set_index("run")
    assert by_run.loc[done, "accuracy"] == "100.0% on test"
    assert by_run.loc[done, "model"] == "Fine-tuned EfficientNet-Lite0 (top 6 blocks)"
    assert by_run["dataset"].tolist() == ["flowers"] * 3  # running and cancelled runs too
    assert "finetune_top6" not in " ".join(cells)
    assert by_run.loc[running, ["model", "accuracy"]].tolist() == ["best so far: Logistic regression",
                                                                   "90.0% on validation, so far"]
    options = at.selectbox[0].options
    assert "flowers, finetune, 100.0%, 2 Dec 14:05" in options
    assert "flowers, extract, running, 2 Dec 15:00" in options
    assert "flowers, extract, cancelled, 1 Dec 09:00" in options


def test_the_runs_table_is_redrawn_while_a_run_is_unfinished_and_drawn_once_after(monkeypatch):
    """A walk saw the Runs table, drawn once, name another model than the followed run's best-so-far box, which is
    redrawn every second. The table is drawn in a fragment that polls while a run is unfinished; once every run has
    ended, nothing polls. (AppTest does not fire a fragment's timer, so the spies record which fragment drew it.)"""
    import functools

    import streamlit

    from pages.common import POLL_SECONDS
    from tlcore import runs

    real_fragment, real_dataframe = streamlit.fragment, streamlit.dataframe
    inside, tables = [], []  # the run_every of the fragments running now; (run_every, runs shown) per table drawn

    def fragment(func=None, *, run_every=None):
        def spy(function):
            @functools.wraps(function)
            def running(*args, **kwargs):
                inside.append(run_every)
                try:
                    return function(*args, **kwargs)
                finally:
                    inside.pop()
            return real_fragment(running, run_every=run_every)
        return spy(func) if func else spy

    def dataframe(data, *args, **kwargs):
        if "run" in getattr(data, "columns", ()):
            tables.append((inside[-1] if inside else None, dict(zip(data["run"], data["model"], strict=True))))
        return real_dataframe(data, *args, **kwargs)

    monkeypatch.setattr(streamlit, "fragment", fragment)
    monkeypatch.setattr(streamlit, "dataframe", dataframe)
    running = time.strftime("%Y%m%d-%H%M%S") + "-ab77"
    ws_id, folder = workspace_with_run()
    fake_unfinished_run(folder, running, "running")
    at = page_in(ws_id, "runs").run()
    assert not at.exception
    assert tables == [(POLL_SECONDS, {running: "best so far: Logistic regression"})]

    runs.set_status(folder / "runs" / running, "cancelled")
    tables.clear()
    assert not page_in(ws_id, "runs").run().exception
    assert [every for every, _ in tables] == [None]  # an ended run's table: drawn once, nothing polls


# --- items 2, 3 and 11: a predict-as-is model, its bundle, Results and Export ---------------------------------------


@pytest.fixture(scope="module")
def as_is_run(tmp_path_factory):
    """A predict-as-is run (a label map over ImageNet's classes) on the Shapes sample, with its bundle, in a
    workspace whose session shows it."""
    from tlcore.export import export_bundle
    from tlcore.image.data import import_dataset
    from tlcore.samples import sample_path
    from tlcore.train import TrainConfig, train

    ws_id, folder = workspace_with_run()
    shapes = import_dataset(sample_path("shapes"), tmp_path_factory.mktemp("shapes"))
    result = train(shapes, TrainConfig(strategies=("predict",), image_size=96), folder)
    export_bundle(result, tflite=False)
    from tlcore import session

    session.update(folder, run=result.run_dir.name)
    return ws_id, folder, result


def test_an_as_is_bundle_carries_the_unknown_score(as_is_run, photos):
    from tlcore.image.bundle import predict_bytes
    from tlcore.predict import load_bundle, predict

    _, _, result = as_is_run
    assert result.selected.strategy == "predict" and result.selected.unknown is not None
    bundle = load_bundle(result.run_dir / "bundle.zip")
    assert bundle.manifest["unknown"] == result.report["unknown"] and "test_flagged" in bundle.manifest["unknown"]
    answers = predict(bundle, result.dataset.files("test"))
    assert np.mean([a["unknown"] for a in answers]) == pytest.approx(result.report["unknown"]["test_flagged"])
    cat = predict_bytes(bundle, photos["chelsea"].read_bytes(), "chelsea.jpg")  # a cat among circles and squares
    assert cat["unknown"] is True and cat["unknown_score"] > 1.0


def test_results_of_the_as_is_run_say_no_temperature_was_fitted_and_show_the_unknown_line(as_is_run):
    ws_id, _, result = as_is_run
    at = page_in(ws_id, "results").run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "fitted on not scaled" not in captions
    assert "No temperature was fitted: this model's probabilities are used as they are." in captions
    assert f"of your own {result.report['unknown']['test_items']} items" in captions
    card = (result.run_dir / "bundle" / "README.md").read_text(encoding="utf-8")
    assert "fitted on not scaled" not in card and "No temperature was fitted" in card


def test_results_say_when_a_model_has_no_unknown_score(as_is_run):
    """A run whose validation split was too small for the line (as 10 gathered images a class give)."""
    from tlcore import runs, session

    ws_id, folder, result = as_is_run
    copy = folder / "runs" / (result.run_dir.name + "-small")
    shutil.copytree(result.run_dir, copy)
    report = runs.read_json(copy / "report.json")
    runs.write_json(copy / "report.json", report | {"unknown": None,
                                                    "largest_class": report["largest_class"] | {"val_items": 4}})
    session.update(folder, run=copy.name)
    try:
        at = page_in(ws_id, "results").run()
    finally:
        session.update(folder, run=result.run_dir.name)
    assert not at.exception
    said = [c.value for c in at.caption if "None of my classes" in c.value]
    assert said and "not available for this model" in said[0] and "holds 4 items" in said[0]


def test_export_captions_an_unknown_input_as_none_of_the_classes(as_is_run, photos):
    from tlcore.predict import load_bundle, predict

    ws_id, _, result = as_is_run
    bundle = load_bundle(result.run_dir / "bundle.zip")
    known = next(a for a in predict(bundle, result.dataset.files("test")) if not a["unknown"])

    def caption_of(name: str, data: bytes, kind: str) -> tuple[str, AppTest]:
        at = page_in(ws_id, "export").run()
        at.file_uploader[0].upload(name, data, kind)
        at.run()
        assert not at.exception
        captions = [img.caption for element in at.get("image") for img in element.proto.imgs]
        return next(c for c in captions if c.startswith(f"{name}: ")), at

    cat, at = caption_of("chelsea.jpg", photos["chelsea"].read_bytes(), "image/jpeg")
    assert cat.startswith("chelsea.jpg: probably none of these classes (nearest: ")
    assert any("looks like none of your classes" in w.value for w in at.warning)
    shape, at = caption_of("shape.png", Path(known["file"]).read_bytes(), "image/png")
    assert shape == f"shape.png: {known['label']} ({known['prob']:.0%})" and not at.warning


def test_export_says_what_predict_py_needs_as_the_model_card_does(as_is_run):
    ws_id, _, result = as_is_run
    at = page_in(ws_id, "export").run()
    card = (result.run_dir / "bundle" / "README.md").read_text(encoding="utf-8")
    command = next(line for line in card.splitlines() if line.startswith("pip install"))
    inside = next(c.value for c in at.caption if "predict.py" in c.value)
    assert f"`{command}`" in inside and "only" not in inside
    with zipfile.ZipFile(result.run_dir / "bundle.zip") as zf:
        script = zf.read("predict.py").decode("utf-8")
    imported = {(n.module if isinstance(n, ast.ImportFrom) else a.name).split(".")[0]
                for n in ast.walk(ast.parse(script)) if isinstance(n, ast.Import | ast.ImportFrom)
                for a in (n.names if isinstance(n, ast.Import) else n.names[:1])}
    package = {"keras": "keras", "PIL": "pillow", "numpy": "tensorflow"}  # numpy comes with tensorflow and keras
    import sys

    outside = {m for m in imported if m not in sys.stdlib_module_names and m != "__future__"}
    assert outside and all(package[m] in command.split() for m in outside)
    assert "tensorflow" in command.split()  # Keras 3 needs a backend: the bundle was made with TensorFlow


# --- item 2: the detector where validation alone is too small -----------------------------------------------------


def test_a_small_validation_split_sets_the_line_with_the_training_split_held_out():
    from tlcore.unknown import fit_detector

    rng = np.random.default_rng(0)
    means = rng.normal(size=(2, 64)) * 2
    labels = np.array([0, 1] * 7)  # 10 images a class give 14 to training, 4 to validation
    train = means[labels] + rng.normal(size=(14, 64))
    val = means[[0, 1, 0, 1]] + rng.normal(size=(4, 64))
    assert fit_detector(train, labels, val) is None  # validation alone cannot set the line
    detector = fit_detector(train, labels, val, cross_fit=True)
    assert detector is not None
    assert "training split (14 items" in detector.describe()["threshold_set_on"]
    fresh = means[rng.integers(0, 2, 200)] + rng.normal(size=(200, 64))
    far = rng.normal(size=(50, 64)) * 2 + 12
    assert np.mean(detector.scores(fresh) <= 1.0) >= 0.8
    assert np.all(detector.scores(far) > 1.0)
    same = fit_detector(train, labels, np.vstack([val, val]), cross_fit=True)  # 8 validation items: as before
    assert same.describe()["threshold_set_on"].startswith("validation split (8 items)")
    assert json.dumps(same.describe())
