"""Regression tests for the bugs and confusing points of issue 13 (the stage walk): the figures' data
and AppTest runs of the pages with the shipped models and the real engine."""
import json
import re

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

import engine  # noqa: E402
from dashboard import charts  # noqa: E402

APP = "dashboard/app.py"
TIMEOUT = 180


def _app(root, page=None, **params):
    at = AppTest.from_file(str(root / APP), default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    return at


def _plotly(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


@pytest.fixture(scope="module")
def beam_trace(one_torch_thread):
    model = engine.load("dates-transformer")
    cfg = engine.GenerationConfig.from_dict({"num_beams": 3, "num_return_sequences": 3, "max_new_tokens": 12})
    return engine.generate(model, "Wed 3 Mar 21", cfg, record={"top_k": 5, "attention": False,
                                                                "hidden_states": False}).to_dict()


# -- bug 4: the beam tree's x, its hover and "Reveal up to step" use the trace's step index --------

def _node_steps(fig):
    """(x, step said by the hover) of every node marker drawn; the root's hover says "start"."""
    out = []
    for t in fig.data:
        if t.mode and "markers" in t.mode:
            for x, h in zip(t.x, t.hovertext):
                m = re.search(r"<br>step (-?\d+)<br>", h)
                out.append((x, int(m.group(1)) if m else ("start" if "<br>start<br>" in h else None)))
    return out


def test_beam_tree_x_is_the_hover_step_and_reveal_draws_that_column(beam_trace):
    steps = {n["step"] for n in beam_trace["beam"]["nodes"]}
    assert max(steps) >= 4
    pairs = _node_steps(charts.beam_tree_figure(beam_trace))
    assert pairs and all(s is not None for _, s in pairs)
    for x, s in pairs:
        assert x == (-1 if s == "start" else s)
    assert {x for x, _ in pairs} == steps           # one column per step, the root at -1
    for upto in (0, 3):
        xs = {x for x, _ in _node_steps(charts.beam_tree_figure(beam_trace, upto_step=upto))}
        assert max(xs) == upto and xs == {s for s in steps if s <= upto}
    fig = charts.beam_tree_figure(beam_trace)
    ax = fig.layout.xaxis
    assert ax.tickvals[0] == -1 and ax.ticktext[0] == "start"
    assert list(ax.tickvals[1:]) == [int(t) for t in ax.ticktext[1:]]
