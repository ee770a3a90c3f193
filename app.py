"""TransferLab in the browser: navigation over the pages, nothing else."""

import streamlit as st

st.set_page_config(page_title="TransferLab", page_icon="🧪", layout="wide")
pages = [
    st.Page("pages/data.py", title="Data", icon="📁", default=True),
    st.Page("pages/imagenet.py", title="Try the base", icon="🔎"),
]
st.navigation(pages).run()
