"""The helpers the dashboard's AppTest files share: open the app on a page with URL parameters, check a
run, read its Plotly figures and what its Markdown shows. Import after `pytest.importorskip("streamlit")`
with this folder on sys.path (as for hf_tiny)."""
import html
import json
import re

import pytest
from markdown_it import MarkdownIt

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = "dashboard/app.py"
TIMEOUT = 180
_CM = MarkdownIt("commonmark")


def open_app(root, page=None, page_params=None, timeout=TIMEOUT, **params):
    """The app run once with these URL parameters, then (given a page) switched to that page, with
    `page_params` set before its run. Not checked: see assert_ok / assert_clean."""
    at = AppTest.from_file(str(root / APP), default_timeout=timeout)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page)
        for k, v in (page_params or {}).items():
            at.query_params[k] = v
        at.run()
    return at


def open_hf_box(at):
    """The user opens the sidebar's "Open a Hugging Face model" box (its widgets run only while it is open)."""
    assert "_hf_spec" not in [w.key for w in at.text_input], "the HF box's widgets ran while it was folded"
    at.session_state["_hf_box"] = True
    at.run()
    return at


def assert_ok(at):
    """The run raised no exception. Returns the AppTest."""
    assert not at.exception, [e.value for e in at.exception]
    return at


def assert_clean(at):
    """The run raised no exception and showed no st.error. Returns the AppTest."""
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    return at


def plotly_specs(at) -> list[dict]:
    """The page's Plotly figures as the JSON the browser gets."""
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def rendered(source: str) -> str:
    """A Markdown source rendered as st.markdown renders it (CommonMark)."""
    return _CM.render(source)


def shown(source: str) -> str:
    """What a Markdown source shows on the page: rendered (CommonMark), tags dropped, entities decoded.
    Text from the URL or a trace is escaped in the source, so assertions read what a user sees."""
    return html.unescape(re.sub(r"<[^>]+>", "", rendered(source))).strip()
