"""Fine-tuning's expected gain for EfficientNet-Lite0, the default image base (see `tlcore.gain`).

Fitted by `tlcore.gain.fit_gain` on every image calibration table (`benchmarks/calibration/`): 58
variants of nine sets, collected on a 2-core x86_64 machine with a 300 s budget per variant,
2026-12-02: `images.csv` (20 of hymenoptera, eurosat200, mnist100, scikit-learn's digits and the
drawn shapes), `images_check.csv` (16 more of those five, collected to check the first fit),
`images_origins.csv` (9 of emoji and Tux Paint's stamps), `images_origins2.csv` (4 of the Oxygen
icons) and `images_origins3.csv` (9 of letters in font faces), the last three fetched from package
registries. A test refits the tables and compares. Its leave-one-dataset-out regret is what
`benchmarks/bench_recommend.py` prints. To refit: collect rows with `benchmarks/calibration.py`,
print the fit with `bench_recommend.py --fit --features distance,log_per_class`, paste it here.

Two of `tlcore.gain.FEATURES`: the distance from ImageNet and the images per class. The four-term
form (with the probe's room, and room times data) did no better: compared by a plan written before
either was scored (December 2026), the two-term form lost 0.57 points on average left out one
dataset at a time over the 58 rows (four terms: 0.61), and 0.50 over the 30 rows collected after
a fit, each round decided by a fit on the tables collected before it (four terms: 0.51); the same
maximum (8.7 and 4.3), and the same typical error (4.03 and 4.05 points). On Wesnoth's unit
sprites, collected after the switch (`images_origins5.csv`, in no fit), it lost 1.48 (four terms:
1.16, one close call apart). The same two terms with the training images in all (`log_train`) in
place of the images per class, compared by a plan written before it was scored (commit 9d504ee),
lost more on the 58 rows (0.62 against 0.57) and on the 17 later rows (1.12 against 1.04), and less on
the noise table's 36 draws (1.19 against 1.26): the per-class form stays.
"""

from __future__ import annotations

from ..gain import GainModel

IMAGE_GAIN = GainModel(
    intercept=-22.8356,
    weights={"distance": 13.48726, "log_per_class": 3.08016},
    residual_points=4.032,
    seconds_per_item={"predict": 0.0, "extract": 0.0352, "finetune": 0.129},
    fitted_on=("digits", "emoji", "eurosat200", "glyphs", "hymenoptera", "icons", "mnist100", "shapes", "stamps"),
    base="efficientnet_lite0",
)
