"""A pilot for a close call: both ways trained briefly, the validation split decides, the advice says so."""

from __future__ import annotations

import json

import pytest

from tlcore.pilot import CLOSE_CALL, Pilot, decided_by, pilot_offer
from tlcore.strategy import Recommendation

ADVICE = Recommendation("extract", 0.55, ["Your data is close to ImageNet."], {"image_size": 128, "heads": ["knn"]},
                        {"predict": 0.5, "extract": 0.8})
FINETUNE_SETTINGS = {"unfreeze_blocks": 12, "learning_rate": 2e-4}


def test_a_pilot_is_offered_for_a_close_call_or_where_no_gain_is_estimated():
    def offer(strategy, confidence, estimated=True):
        expected = {"predict": 0.5, "extract": 0.8} | ({"finetune": 0.82} if estimated else {})
        return pilot_offer({"strategy": strategy, "confidence": confidence, "expected_accuracy": expected})

    assert offer("extract", CLOSE_CALL - 0.01).startswith("A close call") and offer("finetune", 0.5)
    assert not offer("extract", CLOSE_CALL) and not offer("predict", 0.5)
    # the threshold rule (texts, other bases): every call between extract and fine-tuning, however sure it says it is
    assert "no calibrated estimate" in offer("extract", 0.95, estimated=False)
    assert offer("finetune", 0.9, estimated=False) and not offer("predict", 0.6, estimated=False)


def test_the_pilot_decides_and_the_advice_says_so_with_its_numbers():
    won = Pilot(0.80, 0.92, 120, 88.0, 12, "finetune")
    advice = decided_by(ADVICE, won, "images", FINETUNE_SETTINGS)
    assert advice.strategy == "finetune" and advice.settings["unfreeze_blocks"] == 12
    assert "heads" not in advice.settings and advice.settings["image_size"] == 128
    assert advice.reasons[0].startswith("Measured by a pilot (88 s") and "92.0%" in advice.reasons[0]
    assert "80.0%" in advice.reasons[0] and advice.reasons[1:] == ADVICE.reasons
    assert advice.expected_accuracy["finetune"] == 0.92
    kept = decided_by(ADVICE, Pilot(0.80, 0.82, 120, 88.0, 12, "extract"), "images", FINETUNE_SETTINGS)
    assert kept.strategy == "extract" and "simpler way is kept" in kept.reasons[0]
    assert "unfreeze_blocks" not in kept.settings
    from tlcore.words import expected_accuracy_table

    table = expected_accuracy_table({"recommendation": advice.to_dict(), "pilot": won.to_dict()}).set_index("Way")
    assert table["Expected accuracy"].iloc[-1] == "92.0%"
    assert table["How it was estimated"].iloc[-1].startswith("measured by a pilot")


@pytest.mark.slow
def test_analyze_with_a_pilot_trains_both_and_follows_validation(tmp_path, capsys):
    """The digits sample (far from ImageNet): the pilot's numbers come from validation and its winner is the
    advice; nothing of the pilot's runs is left behind; the CLI's JSON carries it."""
    from tlcore.cli import main

    assert main(["analyze", "sample:digits", "--pilot", "--pilot-seconds", "40", "--workspace", str(tmp_path),
                 "--json"]) == 0
    analysis = json.loads(capsys.readouterr().out)
    pilot, advice = analysis["pilot"], analysis["recommendation"]
    assert pilot is not None and 0 < pilot["extract_accuracy"] <= 1 and 0 < pilot["finetune_accuracy"] <= 1
    assert advice["strategy"] == pilot["winner"] and advice["reasons"][0].startswith("Measured by a pilot")
    assert pilot["val_items"] > 0 and pilot["seconds"] <= 40 * 1.5
    assert not any((tmp_path / "pilots").iterdir())
