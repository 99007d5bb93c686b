"""seqscope dashboard: `streamlit run dashboard/app.py` (or `./run.sh app`). The page list; the
sidebar around the pages (links, shared controls bound to the URL) is dashboard/sidebar.py."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import warm_imports  # noqa: E402,F401  (first: what Plotly and Altair import lazily)

# An emoji icon: Streamlit draws it as an inline SVG. A ":material/...:" icon made every page load fetch
# the favicon from fonts.gstatic.com (offline: nothing downloads at run time).
st.set_page_config(page_title="seqscope", page_icon="🔎", layout="wide")

from dashboard import sidebar  # noqa: E402

VIEWS = Path(__file__).resolve().parent / "views"
PAGES = [
    st.Page(VIEWS / "compare.py", title="Compare decoders", icon=":material/balance:", url_path="compare", default=True),
    st.Page(VIEWS / "step.py", title="Step inspector", icon=":material/biotech:", url_path="step"),
    st.Page(VIEWS / "attention.py", title="Attention", icon=":material/visibility:", url_path="attention"),
    st.Page(VIEWS / "beam.py", title="Beam tree", icon=":material/account_tree:", url_path="beam"),
    st.Page(VIEWS / "tffr.py", title="Teacher forcing vs free running", icon=":material/school:", url_path="tffr"),
    st.Page(VIEWS / "traces.py", title="Traces", icon=":material/inventory_2:", url_path="traces"),
    st.Page(VIEWS / "lab.py", title="Exposure lab", icon=":material/science:", url_path="lab"),
    st.Page(VIEWS / "train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page(VIEWS / "deck.py", title="Decks", icon=":material/slideshow:", url_path="deck"),
]

sidebar.run_app(PAGES)

from dashboard import warmup  # noqa: E402

warmup.start_once()     # after the first page is drawn: the tours' models and runs, in the background
