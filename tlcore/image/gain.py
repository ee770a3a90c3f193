"""Fine-tuning's expected gain for EfficientNet-Lite0, the default image base (see `tlcore.gain`).

Fitted by `tlcore.gain.fit_gain` on `benchmarks/calibration/images.csv` (20 variants of hymenoptera,
eurosat200, mnist100, scikit-learn's digits and the drawn shapes, collected on a 2-core x86_64
machine with a 300 s budget per variant, 2026-12-02); a test refits the table and compares. Its
leave-one-dataset-out regret is what `benchmarks/bench_recommend.py` prints. To refit: collect
rows with `benchmarks/calibration.py`, print the fit with `bench_recommend.py --fit`, paste it here.
"""

from __future__ import annotations

from ..gain import GainModel

IMAGE_GAIN = GainModel(
    intercept=-7.3843,
    weights={"room": -0.78773, "distance": 6.91877, "log_per_class": 0.97715, "room_x_data": 0.12545},
    residual_points=3.369,
    seconds_per_item={"predict": 0.0, "extract": 0.0404, "finetune": 0.2321},
    fitted_on=("digits", "eurosat200", "hymenoptera", "mnist100", "shapes"),
    base="efficientnet_lite0",
)
