"""What Plotly, Altair and Streamlit import lazily, imported and exercised once per server process,
before any page runs (dashboard/app.py imports this module first).

Why: Plotly looks pandas up in sys.modules without importing it (`get_module("pandas",
should_load=False)`) and narwhals, under Altair and Streamlit's charts, does the same. On a fresh
server, 8 sessions opened at once ran their first script in parallel: while one thread was still
initialising pandas, another found the half-built module there and failed with "partially initialized
module 'pandas' has no attribute 'Series'". A module is initialised under Python's import lock, so
every script thread that imports this module waits here until everything below is complete.
"""
from __future__ import annotations

import numpy  # noqa: F401
import pandas as pd
import pyarrow  # noqa: F401  (Streamlit's dataframes)
import narwhals  # noqa: F401  (Altair's and Streamlit's dataframe layer)
import plotly.express  # noqa: F401
import plotly.graph_objects as go
import plotly.io as pio
import plotly.subplots  # noqa: F401
import altair as alt


def _exercise() -> None:
    """One tiny figure of each kind the pages draw, validated and serialized, so that the submodules
    Plotly and Altair load on first use are loaded now."""
    frame = pd.DataFrame({"x": [0, 1], "y": ["a", "b"], "v": [0.5, 1.0]})
    fig = go.Figure([go.Bar(x=frame["v"], y=frame["y"], orientation="h"), go.Scatter(x=frame["x"], y=frame["v"]),
                     go.Heatmap(z=[[0.0, 1.0]])])
    plotly.subplots.make_subplots(rows=2, cols=1)
    pio.to_json(fig)
    alt.Chart(frame).mark_rect().encode(x="x:O", y="y:O", color="v:Q").to_dict()


_exercise()
