"""seqscope dashboard: `streamlit run dashboard/app.py` (or `./run.sh app`).

An st.navigation app: the shared controls (model, input, strategies, presentation mode) live in
the sidebar, are defined here so they persist across pages, and are bound to the URL.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="seqscope", page_icon=":material/search_insights:", layout="wide")

from dashboard import display, sidebar, url_state  # noqa: E402

HERE = Path(__file__).resolve().parent
PAGES = [
    st.Page(HERE / "views" / "compare.py", title="Compare decoders", icon=":material/balance:", url_path="compare", default=True),
    st.Page(HERE / "views" / "step.py", title="Step inspector", icon=":material/biotech:", url_path="step"),
    st.Page(HERE / "views" / "attention.py", title="Attention", icon=":material/visibility:", url_path="attention"),
    st.Page(HERE / "views" / "beam.py", title="Beam tree", icon=":material/account_tree:", url_path="beam"),
    st.Page(HERE / "views" / "tffr.py", title="Teacher forcing vs free running", icon=":material/school:", url_path="tffr"),
    st.Page(HERE / "views" / "traces.py", title="Traces", icon=":material/inventory_2:", url_path="traces"),
    st.Page(HERE / "views" / "lab.py", title="Exposure lab", icon=":material/science:", url_path="lab"),
    st.Page(HERE / "views" / "train.py", title="Train", icon=":material/model_training:", url_path="train"),
]

# The page links are drawn by hand (st.navigation's own menu is hidden) so that every link
# carries the shared URL state: switching pages keeps the model, input and strategies.
nav_box = st.sidebar.container()
try:
    sidebar.shared_controls()
except Exception as e:  # noqa: BLE001 - e.g. no shipped models: say so, never a traceback
    st.error(f"The dashboard could not start: {display.one_line(e)}")
    st.stop()
display.PAGE_OBJECTS.update({p.url_path or "compare": p for p in PAGES})
page = st.navigation(PAGES, position="hidden")
if not url_state.presenting():
    with nav_box:
        params = url_state.link_params()
        for p in PAGES:
            st.page_link(p, query_params=params)
        st.divider()
display.apply_presentation_css()
page.run()
