"""TransferLab in the browser: the password gate when the server has a password, then navigation over the pages.

The gate comes before `st.navigation`: until the visitor gives the password, no page runs, so no
workspace, upload, download or job is reachable (`tlcore.access` holds the logic, and paces wrong tries).
"""

import threading

import streamlit as st

from pages.common import workspace
from tlcore import access, jobs

st.set_page_config(page_title="TransferLab", page_icon="🧪", layout="wide")


@st.cache_resource(show_spinner=False)
def warmed_up() -> threading.Thread:
    """TensorFlow and Keras, imported once per server process in the background when the first visitor arrives: the
    Train page's first visit after a start waited 2.7 s for them (4.4 s from "Train the recommended model" to the
    Train page, in a Chromium walk on 2 cores)."""
    thread = threading.Thread(target=jobs.import_libraries, name="transferlab-warm-up", daemon=True)
    thread.start()
    return thread


warmed_up()
if access.shut_out(st.session_state):
    st.title("TransferLab")
    with st.form("password"):
        given = st.text_input("Password", type="password", max_chars=access.MAX_PASSWORD_CHARS,
                              help="Whoever runs this server set it; ask them for it.")
        entered = st.form_submit_button("Enter", type="primary")
    if entered:
        try:
            right = access.check(given, access.configured_password())
        except access.AccessError as error:
            st.error(str(error))
            st.stop()
        if right:
            st.session_state[access.ADMITTED_KEY] = True  # this browser session stays in
            st.rerun()
        st.error("That is not the password. Each wrong try is answered more slowly than the one before.")
    st.stop()

pages = [
    st.Page("pages/data.py", title="Data", icon=":material/folder_open:", default=True),
    st.Page("pages/analyse.py", title="Analyse", icon=":material/query_stats:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/results.py", title="Results", icon=":material/fact_check:"),
    st.Page("pages/export.py", title="Export and try", icon=":material/download:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
    st.Page("pages/imagenet.py", title="Try the base", icon=":material/image_search:"),
]
# The sidebar's links are drawn here, not by st.navigation: its own links drop the address's `?ws=`, which the page
# then puts back, two history entries per click, so Back stayed on the page. These carry it: one entry per click.
current = st.navigation(pages, position="hidden")
with st.sidebar:
    ws = {"ws": workspace().name}
    for page in pages:
        st.page_link(page, query_params=ws)
current.run()
