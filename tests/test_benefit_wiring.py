"""What transfer saved, wired in (issue 33): the job's body, the CLI flags, the Results section, the model card."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import tlcore.benefit as benefit
from tests.conftest import REPO
from tests.test_benefit import CountingScratch
from tlcore import cli, runs
from tlcore.benefit import BudgetError, show
from tlcore.benefit.job import needed_for_run, plan_for_run, run_benefit
from tlcore.data import import_data
from tlcore.export import add_benefit_to_card, benefit_line
from tlcore.samples import sample_path

CARD = "# Image classifier: circle, square, triangle\n\n## Held-out test results\n\nAccuracy 90.0%.\n\n" \
       "## Known limits\n\n- It only knows the classes above.\n"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return import_data(sample_path("shapes"), tmp_path_factory.mktemp("ws"))


@pytest.fixture
def stand_in(monkeypatch):
    """The no-transfer model replaced by one that answers the first class (the real network takes minutes)."""
    scratch = CountingScratch()
    monkeypatch.setattr(benefit, "scratch_for", lambda dataset: scratch)
    return scratch


def finished_run(dataset, folder, size=64):
    """A complete run's folder as the engine leaves it: its dataset, settings, report and a bundle's card."""
    from tlcore.train.config import TrainConfig

    dataset.save(folder / "dataset")
    runs.write_json(folder / "config.json", dataclasses.asdict(TrainConfig(image_size=size)))
    runs.write_json(folder / "report.json", {"selected": {"strategy": "extract", "model": "logistic_regression"},
                                             "test": {"accuracy": 0.9}, "classes": list(dataset.classes),
                                             "source": "shapes"})
    runs.write_atomic(folder / "bundle" / "README.md", CARD)
    return folder


def test_the_job_writes_benefit_into_the_report_keeping_every_other_key(shapes, tmp_path, stand_in):
    run = finished_run(shapes, tmp_path / "run")
    stored = run_benefit(run, needed_for_run(run).seconds + 60)
    report = runs.read_json(run / "report.json")
    assert report["benefit"] == stored
    assert report["test"] == {"accuracy": 0.9} and report["source"] == "shapes"  # the rest kept as it was
    assert runs.read_json(run / "benefit" / "benefit.json") == stored
    assert [p["fraction"] for p in stored["curve"]] == [0.1, 0.25, 0.5, 1.0]
    assert stored["scratch"]["model"] == "first class always"
    assert stored["scratch"]["accuracy"] == pytest.approx(1 / 3)  # the stand-in on the 27 balanced test shapes
    assert stored["transfer"]["way"] == "extract" and stored["summary"] and stored["more_data"]
    # the bundle built before the comparison now says it in its card, in the folder and in the zip
    card = (run / "bundle" / "README.md").read_text()
    assert "Without transfer, the same data scored 33.3%" in card
    assert card.index("Without transfer") < card.index("## Known limits")
    with zipfile.ZipFile(run / "bundle.zip") as archive:
        assert "Without transfer, the same data scored 33.3%" in archive.read("README.md").decode()


def test_the_no_transfer_model_alone_writes_scratch_only(shapes, tmp_path, stand_in):
    run = finished_run(shapes, tmp_path / "run")
    stored = run_benefit(run, 600, curve=False)
    assert set(stored) == {"scratch"} and stored["scratch"]["test_items"] == len(shapes.labels("test"))
    assert runs.read_json(run / "report.json")["benefit"] == stored
    assert stand_in.rows and len(stand_in.rows) == 1  # one fit, on all of the training split
    assert len(stand_in.rows[0]) == len(shapes.labels("train"))


def test_a_budget_too_small_is_refused_before_anything_is_written(shapes, tmp_path, stand_in):
    run = finished_run(shapes, tmp_path / "run")
    before = runs.read_json(run / "report.json")
    with pytest.raises(BudgetError, match="needs at least"):
        run_benefit(run, 0.5)
    assert runs.read_json(run / "report.json") == before and not stand_in.rows
    assert (run / "bundle" / "README.md").read_text() == CARD


def test_a_second_measure_replaces_the_card_line_instead_of_adding_one(tmp_path):
    (tmp_path / "bundle").mkdir()
    runs.write_atomic(tmp_path / "bundle" / "README.md", CARD)
    first = {"scratch": {"accuracy": 0.5, "model": "small CNN", "seconds": 12.0}}
    second = {"scratch": {"accuracy": 0.625, "model": "small CNN", "seconds": 40.0},
              "transfer": {"accuracy": 0.95}, "summary": "With transfer, 10% of your images already reach 95%."}
    assert add_benefit_to_card(tmp_path, first) and add_benefit_to_card(tmp_path, second)
    card = (tmp_path / "bundle" / "README.md").read_text()
    assert card.count("Without transfer, the same data scored") == 1
    assert "62.5% on the same test split (small CNN, 40 s of training), against 95.0%" in card
    assert card.endswith("- It only knows the classes above.\n")
    assert not add_benefit_to_card(tmp_path / "elsewhere", second)  # no bundle: nothing to change
    assert benefit_line(None) is None


def test_the_page_plan_offers_at_least_what_is_needed(shapes, tmp_path, stand_in):
    run = finished_run(shapes, tmp_path / "run")
    plan = plan_for_run(run)
    assert plan.needed.seconds == needed_for_run(run).seconds > 0
    assert plan.budget_seconds >= plan.needed.seconds


def test_the_stored_comparison_in_rows_and_sentences():
    stored = {"scratch": {"accuracy": 0.5, "model": "small CNN", "seconds": 30.0, "low": 0.3, "high": 0.7,
                          "test_items": 27},
              "transfer": {"way": "extract", "model": "logistic regression", "accuracy": 0.9, "seconds": 2.0},
              "curve": [{"fraction": 0.1, "per_class": 1, "skipped": "10% keeps 1 of class 'a'; ... skipped"},
                        {"fraction": 1.0, "per_class": 40, "accuracy": 0.9, "low": 0.8, "high": 0.95,
                         "scratch_accuracy": 0.5, "scratch_low": 0.3, "scratch_high": 0.7, "seconds": 2.0,
                         "scratch_seconds": 30.0, "skipped": None}],
              "summary": "With transfer, all of your images reach 90%; without it, all of them reach 50%.",
              "more_data": "More images are unlikely to help much."}
    report = {"test": {"accuracy": 0.88}, "largest_class": {"class": "a", "test_accuracy": 0.34}}
    rows = show.curve_rows(stored)
    assert [(r["model"], r["accuracy"]) for r in rows] == [("with transfer", 0.9), ("without transfer", 0.5)]
    assert rows[0]["below"] == pytest.approx(0.1) and rows[1]["above"] == pytest.approx(0.2)
    assert [(s.label, s.value) for s in show.scores(stored, report)] == [
        ("With transfer", "90.0%"), ("Without transfer", "50.0%"), ("Always the largest class", "34.0%")]
    assert show.skipped(stored) == ["10% keeps 1 of class 'a'; ... skipped"]
    assert show.sentences(stored) == [stored["summary"], stored["more_data"]]
    scratch_only = {"scratch": stored["scratch"]}  # what `train --compare-scratch` stores
    assert show.scores(scratch_only, report)[0].value == "88.0%"  # the run's own model then
    assert show.curve_rows(scratch_only) == [] and show.sentences(scratch_only) == []


# -- the command line


@pytest.mark.parametrize("command", [["analyze", "d"], ["train", "d"], ["inspect", "d"], ["imagenet", "x.jpg"]])
def test_base_is_the_same_option_as_backbone(command):
    parser = cli._parser()
    assert parser.parse_args([*command, "--base", "efficientnet_lite2"]).backbone == "efficientnet_lite2"
    assert parser.parse_args([*command, "--backbone", "efficientnet_lite2"]).backbone == "efficientnet_lite2"
    assert parser.parse_args(command).backbone is None


def test_an_unknown_base_is_refused_by_either_name(capsys, tmp_path):
    for option in ("--base", "--backbone"):
        assert cli.main(["imagenet", str(tmp_path / "x.jpg"), option, "no_such_base"]) == cli.EXIT_REFUSED
        assert "no_such_base" in capsys.readouterr().err


def test_a_benefit_budget_too_small_is_refused_before_training(capsys, tmp_path):
    code = cli.main(["train", "sample:support", "--workspace", str(tmp_path), "--strategy", "extract",
                     "--compare-scratch", "--benefit-budget", "0.01"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_REFUSED and "error: --benefit-budget:" in err and "needs at least" in err
    assert not list(tmp_path.glob("runs/*"))  # refused before a run was started
    code = cli.main(["train", "sample:support", "--workspace", str(tmp_path), "--benefit-budget", "60"])
    assert code == cli.EXIT_REFUSED and "add one of them" in capsys.readouterr().err


@pytest.mark.slow
def test_train_flags_write_benefit_into_the_report(capsys, tmp_path):
    """`train --learning-curve` (the whole comparison), then `--compare-scratch` (the no-transfer model alone)."""
    common = ["train", "sample:support", "--workspace", str(tmp_path), "--strategy", "extract", "--trials", "0",
              "--baselines", "logistic_regression", "--budget-seconds", "120", "--json"]
    assert cli.main([*common, "--learning-curve", "--benefit-budget", "120"]) == 0
    printed = json.loads(capsys.readouterr().out)
    run = next((tmp_path / "runs").iterdir())
    stored = runs.read_json(run / "report.json")["benefit"]
    assert printed["benefit"] == stored and printed["bundle"] and printed["test"]  # `--json` keys kept
    assert [p["fraction"] for p in stored["curve"]] == [0.1, 0.25, 0.5, 1.0]
    assert "TF-IDF" in stored["scratch"]["model"] and stored["more_data"]
    with zipfile.ZipFile(printed["bundle"]) as archive:
        assert "Without transfer, the same data scored" in archive.read("README.md").decode()

    assert cli.main([*common[:-1], "--compare-scratch"]) == 0  # the default budget: what it needs; as text
    printed = capsys.readouterr().out
    assert "benefit: without transfer: " in printed and "TF-IDF" in printed
    second = Path(next(line for line in printed.splitlines() if line.startswith("run folder: ")).split(": ", 1)[1])
    assert second != run and set(runs.read_json(second / "report.json")["benefit"]) == {"scratch"}


# -- the Results page


def test_results_offers_the_measure_then_shows_what_transfer_saved(stand_in, monkeypatch):
    """Before: the button with its expected time. Pressed: the job runs (in-process here), then the chart, the
    two scores beside the largest class, and the sentences. A run that cannot be measured, or a measure that
    failed, says so and leaves the rest of the page."""
    import tlcore.benefit.job as benefit_job
    from tlcore.errors import DataError, SettingError

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600).run()
    at.switch_page("pages/train.py").run()
    at.radio[0].set_value("predict").run()
    at.button(key="train").click().run()
    assert not at.exception
    at.switch_page("pages/results.py").run()
    assert not at.exception
    assert "What transfer saved you" in [h.value for h in at.subheader]
    button = at.button(key="benefit")
    assert button.label.startswith("Measure what transfer saved (about ") and "at most" in button.label
    assert any("It needs at least" in c.value for c in at.caption)
    charts = len(at.get("plotly_chart"))

    with monkeypatch.context() as patch:
        patch.setattr(benefit_job, "plan_for_run", lambda run_dir: (_ for _ in ()).throw(DataError("no test split")))
        at.run()
        assert not at.exception and at.button(key="next")
        assert any(c.value.endswith("cannot be measured for this run: no test split") for c in at.caption)
    with monkeypatch.context() as patch:
        def refuse(*args, **kwargs):
            raise SettingError("the network cannot be built; give it more memory")

        patch.setattr(stand_in, "fit", refuse)
        at.run()
        at.button(key="benefit").click().run()
        assert not at.exception
        assert any("It failed: the network cannot be built" in e.value for e in at.error)
        assert at.button(key="benefit") and len(at.get("plotly_chart")) == charts  # offered again, nothing drawn

    at.button(key="benefit").click().run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == charts + 1  # both curves
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Without transfer"] == "33.3%" and {"With transfer", "Always the largest class"} <= set(metrics)
    written = " ".join(m.value for m in at.markdown)
    assert "With transfer" in written or "Without transfer, all of your" in written
    assert "More images" in written
    assert not [b for b in at.button if b.key == "benefit"]  # measured: no button any more
