"""TransferLab in the browser: navigation over the pages, nothing else."""

import streamlit as st

st.set_page_config(page_title="TransferLab", page_icon="🧪", layout="wide")
pages = [
    st.Page("pages/data.py", title="Data", icon="📁", default=True),
    st.Page("pages/analyse.py", title="Analyse", icon="📊"),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/results.py", title="Results", icon="✅"),
    st.Page("pages/export.py", title="Export and try", icon="📦"),
    st.Page("pages/runs.py", title="Runs", icon="🗂️"),
    st.Page("pages/imagenet.py", title="Try the base", icon="🔎"),
]
st.navigation(pages).run()
