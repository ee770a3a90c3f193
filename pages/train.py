"""Train: the chosen strategy (or all three) within a time budget, with live progress."""

import streamlit as st

from pages.common import (
    ProgressPanel,
    chosen_strategy,
    current_analysis,
    descriptions,
    need_dataset,
    run_or_stop,
    set_run,
    workspace,
)
from tlcore.train import FinetuneConfig, SearchConfig, TrainConfig, train

FINETUNE_DEFAULTS = {"image": (12, 16, 2e-4), "text": (3, 6, 5e-5)}  # blocks, most blocks, learning rate

st.title("Train")
_, dataset, _ = need_dataset()
stored = current_analysis()
settings = stored[1].recommendation.settings if stored else {}
blocks_default, most_blocks, rate_default = FINETUNE_DEFAULTS[dataset.modality]
options = ["predict", "extract", "finetune", "all"]
strategy = st.radio("Strategy", options, index=options.index(chosen_strategy()), horizontal=True,
                    help="The Analyse page recommends one; 'all' trains the three and compares them on test.")
budget = st.slider("Time budget (seconds)", 30, 1800, 300, step=30)
with st.expander("Advanced settings"):
    size = 0
    if dataset.modality == "image":
        size = st.number_input("Image size (px, 0 = automatic)", 0, 224, settings.get("image_size", 0), step=32)
    trials = st.number_input("Keras Tuner trials", 0, 50, SearchConfig().max_trials)
    blocks = st.number_input("Blocks to unfreeze when fine-tuning" if dataset.modality == "image" else
                             "Transformer layers to unfreeze when fine-tuning", 1, most_blocks,
                             settings.get("unfreeze_blocks", blocks_default))
    epochs = st.number_input("Fine-tuning epochs (at most)", 1, 50, FinetuneConfig().epochs)
    rate = st.number_input("Fine-tuning learning rate", 1e-6, 1e-2, settings.get("learning_rate", rate_default),
                           format="%.6f")

if not st.button("Train", type="primary"):
    st.stop()
config = TrainConfig(
    strategies=(strategy,), image_size=int(size) or None, budget_seconds=float(budget),
    backbone=stored[1].backbone if stored else None,
    search=SearchConfig(max_trials=int(trials)),
    finetune=FinetuneConfig(unfreeze_blocks=int(blocks), epochs=int(epochs), learning_rate=float(rate)),
    class_descriptions=descriptions(),
)
result = run_or_stop(lambda: train(dataset, config, workspace(), progress=ProgressPanel()))
set_run(result.report, result.run_dir, getattr(dataset, "root", None), result)
st.success(f"Done: {result.selected.strategy}/{result.selected.name} selected on validation; "
           f"test accuracy {result.test.accuracy:.1%}. See Results.")
st.dataframe(result.leaderboard, hide_index=True)
