"""TransferLab in the browser: navigation over the pages, nothing else."""

import streamlit as st

st.set_page_config(page_title="TransferLab", page_icon=":material/science:", layout="wide")
pages = [
    st.Page("pages/data.py", title="Data", icon=":material/folder_open:", default=True),
    st.Page("pages/analyse.py", title="Analyse", icon=":material/query_stats:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/results.py", title="Results", icon=":material/fact_check:"),
    st.Page("pages/export.py", title="Export and try", icon=":material/download:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
    st.Page("pages/imagenet.py", title="Try the base", icon=":material/image_search:"),
]
st.navigation(pages).run()
