"""The one Streamlit-side helper module: session workspace, session-state keys, error display.

Only this module names `st.session_state` keys, so pages stay thin and consistent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import streamlit as st

from tlcore import paths
from tlcore.errors import TLCoreError

T = TypeVar("T")
_WORKSPACE = "workspace"
_DATASET = "dataset"


def workspace() -> Path:
    """This browser session's own folder; two sessions never share one."""
    if _WORKSPACE not in st.session_state:
        st.session_state[_WORKSPACE] = paths.home() / "sessions" / uuid.uuid4().hex[:12]
    folder = st.session_state[_WORKSPACE]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def current_dataset():
    """The dataset the Data page loaded, as (key, Dataset, Audit), or None."""
    return st.session_state.get(_DATASET)


def set_dataset(key: str, dataset, report) -> None:
    st.session_state[_DATASET] = (key, dataset, report)


def run_or_stop(action: Callable[[], T]) -> T:
    """Run a tlcore call; a `TLCoreError` becomes a readable message on the page instead of a traceback."""
    try:
        return action()
    except TLCoreError as error:
        st.error(str(error))
        st.stop()
