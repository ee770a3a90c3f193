"""A pilot for a close call: both ways trained briefly, measured on validation, weighed with the estimate."""

from __future__ import annotations

import json

import pytest

from tlcore.gain import expected_loss
from tlcore.pilot import CLEAR_LEAD, CLOSE_CALL, Pilot, decided_by, pilot_offer, weigh
from tlcore.strategy import Recommendation

ADVICE = Recommendation("extract", 0.55, ["Your data is close to ImageNet."], {"image_size": 128, "heads": ["knn"]},
                        {"predict": 0.5, "extract": 0.8})
FINETUNE_SETTINGS = {"unfreeze_blocks": 12, "learning_rate": 2e-4}


def test_a_pilot_is_offered_for_a_close_call_of_the_estimate_only():
    def offer(strategy, confidence, estimated=True):
        return pilot_offer(Recommendation(strategy, confidence, [], {}, {"predict": 0.5, "extract": 0.8},
                                          expected_gain=1.0 if estimated else None).to_dict())

    assert offer("extract", CLOSE_CALL - 0.01).startswith("A close call") and offer("finetune", 0.5)
    assert not offer("extract", CLOSE_CALL) and not offer("predict", 0.5)
    # the threshold rule (texts, other bases): a pilot deciding alone made its calls worse, so none is offered
    assert not offer("extract", 0.55, estimated=False) and not offer("finetune", 0.5, estimated=False)


def test_without_an_estimate_only_a_clear_pilot_overturns_the_rule_and_the_advice_says_so():
    won = Pilot(0.80, 0.92, 120, 88.0, 12, "finetune")
    lead, error = won.lead()
    assert lead > CLEAR_LEAD * error  # 12 points on 120 validation images: beyond two standard errors
    advice = decided_by(ADVICE, won, "images", FINETUNE_SETTINGS)
    assert advice.strategy == "finetune" and advice.settings["unfreeze_blocks"] == 12
    assert "heads" not in advice.settings and advice.settings["image_size"] == 128
    assert advice.reasons[0].startswith("Measured by a pilot (88 s") and "92.0%" in advice.reasons[0]
    assert "80.0%" in advice.reasons[0] and "and overturns it" in advice.reasons[0]
    assert advice.reasons[1:] == ADVICE.reasons and advice.confidence > ADVICE.confidence
    assert advice.expected_accuracy["finetune"] == 0.92
    # fine-tuning ahead by its one-standard-error rule (the pilot's own winner) is not enough to overturn the rule
    ahead = Pilot(0.80, 0.88, 120, 88.0, 12, "finetune")
    assert ahead.lead()[0] < CLEAR_LEAD * ahead.lead()[1]
    kept = decided_by(ADVICE, ahead, "images", FINETUNE_SETTINGS)
    assert kept.strategy == "extract" and "the rule's call stands" in kept.reasons[0]
    assert "unfreeze_blocks" not in kept.settings and kept.confidence == ADVICE.confidence
    # nor, the other way, a rule's fine-tuning call by a frozen head ahead within the noise
    rule_finetune = Recommendation("finetune", 0.8, [], FINETUNE_SETTINGS, {"predict": 0.5, "extract": 0.8})
    assert decided_by(rule_finetune, Pilot(0.85, 0.80, 120, 88.0, 12, "extract"), "texts", FINETUNE_SETTINGS
                      ).strategy == "finetune"
    agrees = decided_by(ADVICE, Pilot(0.85, 0.80, 120, 88.0, 12, "extract"), "images", FINETUNE_SETTINGS)
    assert agrees.strategy == "extract" and "leans the same way" in agrees.reasons[0]
    from tlcore.words import expected_accuracy_table

    table = expected_accuracy_table({"recommendation": advice.to_dict(), "pilot": won.to_dict()}).set_index("Way")
    assert table["Expected accuracy"].iloc[-1] == "92.0%"
    assert table["How it was estimated"].iloc[-1].startswith("measured by a pilot")


def test_with_an_estimate_the_pilot_is_weighed_by_its_precision_not_obeyed():
    """A pilot's lead within its noise does not overturn a clear estimate; a clear lead overturns a weak one."""
    import dataclasses

    estimated = dataclasses.replace(ADVICE, strategy="finetune", confidence=0.64, settings=FINETUNE_SETTINGS,
                                    expected_gain=1.3, gain_error=3.5)
    # digits@50's pilot: 95.0% vs 93.75% on 80 validation images, a lead of -1.2 give or take 4.2 points
    noisy = Pilot(0.95, 0.9375, 80, 90.0, 12, "extract")
    lead, error = noisy.lead()
    assert lead == pytest.approx(-1.25) and 3.5 < error < 4.5
    kept = decided_by(estimated, noisy, "images", FINETUNE_SETTINGS)
    assert kept.strategy == "finetune" and kept.settings["unfreeze_blocks"] == 12
    assert "Weighed with the estimate before training (+1.3" in kept.reasons[0] and "it pays here" in kept.reasons[0]
    weighed, weighed_error = weigh(1.3, 3.5, lead, error)
    assert 0 < weighed < 1.3 and kept.expected_accuracy["finetune"] == round(0.8 + weighed / 100, 4)
    # what the choice is expected to lose is the weighed gain's, said in the pilot's reason
    assert kept.expected_loss == round(expected_loss(weighed, weighed_error, "finetune"), 2)
    assert f"loses {kept.expected_loss:.1f} points against the better of the two ways" in kept.reasons[0]
    from tlcore.words import expected_accuracy_table

    table = expected_accuracy_table({"recommendation": kept.to_dict(), "pilot": noisy.to_dict()}).set_index("Way")
    assert table["How it was estimated"].iloc[-1].startswith("the probe plus the expected gain, weighed with a pilot")
    assert 0.5 <= kept.confidence < estimated.confidence  # the pilot leaned the other way: less sure than before
    # a lead far beyond its noise wins, and the advice becomes extract's: heads back, fine-tuning's settings gone
    clear = decided_by(estimated, Pilot(0.95, 0.80, 80, 90.0, 12, "extract"), "images", FINETUNE_SETTINGS)
    assert clear.strategy == "extract" and "simpler way is kept" in clear.reasons[0]
    assert "unfreeze_blocks" not in clear.settings and clear.settings["heads"]
    # a perfect score on 12 items is not certainty: a tie leaves the estimate's call
    tie = Pilot(1.0, 1.0, 12, 60.0, 6, "extract")
    assert tie.lead()[1] > 5 and decided_by(estimated, tie, "images", FINETUNE_SETTINGS).strategy == "finetune"
    # good and fast asks the weighed gain for its two points
    fast = dataclasses.replace(estimated, aim="fast")
    assert decided_by(fast, Pilot(0.90, 0.915, 300, 90.0, 12, "finetune"), "images", {}).strategy == "extract"


@pytest.mark.slow
def test_analyze_with_a_pilot_trains_both_and_weighs_validation(tmp_path, capsys):
    """The digits sample (far from ImageNet): the pilot's numbers come from validation and are weighed into the
    advice; nothing of the pilot's runs is left behind; the CLI's JSON carries it."""
    from tlcore.cli import main

    assert main(["analyze", "sample:digits", "--pilot", "--pilot-seconds", "40", "--workspace", str(tmp_path),
                 "--json"]) == 0
    analysis = json.loads(capsys.readouterr().out)
    pilot, advice = analysis["pilot"], analysis["recommendation"]
    assert pilot is not None and 0 < pilot["extract_accuracy"] <= 1 and 0 < pilot["finetune_accuracy"] <= 1
    assert advice["reasons"][0].startswith("Measured by a pilot") and advice["strategy"] in ("extract", "finetune")
    # the default base has a calibrated estimate of the gain: the pilot is weighed with it, and the advice says so
    assert advice["expected_gain"] is not None and "Weighed with the estimate" in advice["reasons"][0]
    assert pilot["val_items"] > 0 and pilot["seconds"] <= 40 * 1.5
    assert not any((tmp_path / "pilots").iterdir())
