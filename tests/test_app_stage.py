"""Regression tests for the bugs and confusing points of issue 13 (the stage walk): the figures' data
and AppTest runs of the pages with the shipped models and the real engine."""
import json
import logging
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("streamlit")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from apptest_kit import assert_ok, open_app, plotly_specs  # noqa: E402

import engine  # noqa: E402
from dashboard import charts  # noqa: E402


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


# -- bug 1: "Clear all" in the Strategies box is a real state; the next choice is kept -------------

MBR = next(p for p in engine.PRESETS if p.startswith("MBR"))


def test_strategies_clear_all_then_pick_keeps_the_pick(root):
    at = assert_ok(open_app(root, model="addition-gru"))
    at.multiselect(key="s").set_value([]).run()
    assert_ok(at)
    assert at.multiselect(key="s").value == []
    assert not at.error, [e.value for e in at.error]
    shown = [i.value for i in at.info]
    assert any("pick a strategy" in v.lower() for v in shown), shown
    assert not plotly_specs(at)                              # nothing decoded
    at.multiselect(key="s").set_value([MBR]).run()
    assert_ok(at)
    assert at.multiselect(key="s").value == [MBR]
    assert at.query_params.get("s") in (MBR, [MBR])
    # four picks after a clear: exactly those four, no "up to 4 options" overflow
    at.multiselect(key="s").set_value([]).run()
    four = ["greedy", "top-k 40", "min-p 0.1", MBR]
    for i in range(1, 5):
        at.multiselect(key="s").set_value(four[:i]).run()
        assert_ok(at)
        assert at.multiselect(key="s").value == four[:i]


# -- bug 2: the Traces page's "Beam tree" link shows the uploaded beam trace ------------------------

def _page_link_params(at, label):
    from urllib.parse import parse_qs
    for el in at.get("page_link"):
        if el.proto.label == label:
            return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(el.proto.query_string).items()}
    raise AssertionError(f"no page link {label!r}")


def test_uploaded_beam_trace_link_opens_the_uploaded_trace(root, beam_trace):
    at = assert_ok(open_app(root, "views/traces.py", model="addition-gru"))
    at.session_state["uploaded_trace"] = beam_trace
    at.session_state["uploaded_key"] = "0123456789abcdef"
    at.run()
    assert_ok(at)
    params = _page_link_params(at, "Beam tree")
    assert params.get("trace") == "0123456789abcdef"
    at.query_params.clear()
    at.query_params.update(params)
    at.switch_page("views/beam.py").run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="beam_src").value == "uploaded trace"
    fig = plotly_specs(at)[0]
    assert "dates-transformer" in fig["layout"]["title"]["text"]          # not addition-gru decoded here
    drawn = sum(len(t["x"]) for t in fig["data"] if "markers" in (t.get("mode") or ""))
    assert drawn == len(beam_trace["beam"]["nodes"])


# -- bug 6: "next" on the step inspector logs no "default value and Session State" warning ------------

class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def widget_warnings(monkeypatch):
    """The streamlit logger's warnings about widget state. Streamlit checks "a default value and a Session
    State value" only when a runtime exists (a real server) and warns once per process: both made true here."""
    from streamlit.elements.lib import policies
    monkeypatch.setattr(policies, "runtime", SimpleNamespace(exists=lambda: True))
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    h = _Records()
    policies._LOGGER.addHandler(h)
    yield h.messages
    policies._LOGGER.removeHandler(h)


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def test_step_next_logs_no_session_state_warning(root, widget_warnings):
    at = assert_ok(open_app(root, "views/step.py"))
    assert at.slider(key="step").value == 0
    _button(at, "next ▶").click().run()
    assert_ok(at)
    _button(at, "next ▶").click().run()
    assert_ok(at)
    assert at.slider(key="step").value == 2
    _button(at, "◀ previous").click().run()
    assert at.slider(key="step").value == 1
    assert not [m for m in widget_warnings if "Session State" in m], widget_warnings


# -- bug 3: "Highlight hypothesis" follows a new search (Beams 4 -> 8) --------------------------------

def _shown_label(sb, before):
    """The label a browser shows for a selectbox after a rerun: the value the server sends (set_value),
    or else the label the browser held before (the frontend keeps its own value for the same widget)."""
    return sb.proto.raw_value if sb.proto.set_value else before


def _beam_settings(at, beams=None, maxlen=None):
    """The beam page's settings (a form: applied by its "Decode" button when there is one)."""
    if beams is not None:
        at.slider(key="beams").set_value(beams)
    if maxlen is not None:
        at.number_input(key="maxlen").set_value(maxlen)
    decode = [b for b in at.button if b.label == "Decode"]
    (decode[0].click() if decode else at).run()
    assert_ok(at)


def test_highlight_hypothesis_label_follows_new_beams(root, widget_warnings):
    at = assert_ok(open_app(root, "views/beam.py", model="text-gpt"))
    sb = at.selectbox(key="bhyp")
    sb.set_value(1).run()
    assert_ok(at)
    sb = at.selectbox(key="bhyp")
    held = sb.options[1]
    assert len(sb.options) == 4
    _beam_settings(at, beams=8)
    sb = at.selectbox(key="bhyp")
    assert len(sb.options) == 8 and sb.value == 1
    assert held not in sb.options                  # the 8-beam search's #2 differs from the 4-beam one's
    assert _shown_label(sb, held) == sb.options[1]
    # the reveal slider follows a shorter search without a warning or an out-of-range value
    at.slider(key="reveal").set_value(at.slider(key="reveal").max).run()
    _beam_settings(at, maxlen=3)
    assert at.slider(key="reveal").value == at.slider(key="reveal").max == 2
    assert not [m for m in widget_warnings if "Session State" in m], widget_warnings


def test_beam_reveal_follows_a_shorter_search_without_session_state_warnings(root, widget_warnings):
    at = assert_ok(open_app(root, "views/beam.py", model="dates-transformer", input="Wed 3 Mar 21", reveal="3"))
    assert at.slider(key="reveal").value == 3                  # the link's value
    _beam_settings(at, maxlen=4)
    assert at.slider(key="reveal").max == 3 and at.slider(key="reveal").value == 3
    _beam_settings(at, maxlen=2)                               # beyond the new end: the whole tree
    assert at.slider(key="reveal").value == at.slider(key="reveal").max == 1
    prev = [b for b in at.button if b.key == "pk_prev_reveal"]  # the presenter's ◀ writes Session State
    if prev:
        prev[0].click().run()
        assert_ok(at)
        assert at.slider(key="reveal").value == 0
    assert not [m for m in widget_warnings if "Session State" in m], widget_warnings


def test_beam_reveal_opens_on_the_whole_tree(root):
    at = assert_ok(open_app(root, "views/beam.py", model="dates-transformer", input="Wed 3 Mar 21"))
    sl = at.slider(key="reveal")
    assert sl.value == sl.max >= 4
    fig = plotly_specs(at)[0]
    assert max(x for t in fig["data"] if "markers" in (t.get("mode") or "") for x in t["x"]) == sl.max


# -- bug 5: TF vs FR: an injection never "derails" when it changed nothing ---------------------------

def _section(at, head):
    return next(m.value for m in at.markdown if m.value.startswith(head))


def test_injected_runner_up_is_never_the_models_own_token(root):
    at = assert_ok(open_app(root, "views/tffr.py", model="hmm-gpt", inject="5"))
    assert not at.error, [e.value for e in at.error]
    base = re.search(r"`([^`]*)`", _section(at, "##### undisturbed")).group(1)
    hit_md = _section(at, "##### with ")
    label = re.match(r"##### with \\?'(.+?)\\?' at step 5", hit_md).group(1)
    hit = re.search(r"`([^`]*)`", hit_md).group(1)
    assert label != base[5]                          # hmm-gpt: one character per token
    assert hit != base and hit[:5] == base[:5] and hit[5] == label
    # a typed token that is the model's own: no disturbance, said once, and no verdict
    at.text_input(key="wrong").set_value(base[5]).run()
    assert_ok(at)
    infos = [i.value for i in at.info]
    assert len(infos) == 1 and "no disturbance" in infos[0].lower(), infos
    assert not any("derails" in m.value or "recovers" in m.value for m in at.markdown)


def _hypothesis_label_follows_another_run(at):
    """Hypothesis 3 of custom A (3 beams) held, then another run picked: the index stays and the label
    shown is the new run's, with no trace of the old one."""
    at.selectbox(key="hyp").set_value(2).run()
    assert_ok(at)
    held = at.selectbox(key="hyp").options[2]
    at.selectbox(key="run").set_value("diverse beam").run()
    assert_ok(at)
    sb = at.selectbox(key="hyp")
    assert sb.value == 2 and held not in sb.options
    assert _shown_label(sb, held) == sb.options[2]


def test_step_hypothesis_label_follows_another_run(root):
    at = assert_ok(open_app(root, "views/step.py", model="text-gpt", s=["custom A", "greedy"], run="custom A",
                            ca='{"num_beams": 3, "num_return_sequences": 3}'))
    _hypothesis_label_follows_another_run(at)


# -- confusing points ------------------------------------------------------------------------------

def test_too_long_input_is_one_error_not_one_per_strategy(root):
    at = assert_ok(open_app(root, input="the third of march " * 20))
    assert len(at.error) == 1 and "at most" in at.error[0].value, [e.value for e in at.error]
    at = assert_ok(open_app(root, "views/traces.py", input="the third of march " * 20))
    assert sum("accepts at most" in e.value for e in at.error) == 2    # the run download, and the report once


def test_compare_entropy_says_after_the_decoding_rules(root):
    at = assert_ok(open_app(root, s=["greedy", "beam 4"]))
    fig = plotly_specs(at)[0]
    titles = [a["text"] for a in fig["layout"].get("annotations", [])]
    assert any("entropy after the decoding rules" in t for t in titles), titles
    assert "after the decoding rules" in fig["layout"]["title"]["text"]
    assert any("entropy 0" in c.value and "before and after" in c.value for c in at.caption)


def test_step_chart_has_a_legend_entry_for_every_bar_colour(root):
    from dashboard.charts.style import CHOSEN, CUT
    at = assert_ok(open_app(root, "views/step.py", model="text-gpt", run="min-p 0.1"))
    fig = plotly_specs(at)[0]
    bars = [t for t in fig["data"] if t["type"] == "bar" and any(x is not None for x in t["x"])]
    drawn = set()
    for t in bars:
        c = t["marker"]["color"]
        drawn |= set(c) if isinstance(c, list) else {c}
    legend = {t["marker"]["color"]: t["name"] for t in fig["data"]
              if t.get("showlegend", True) is not False and isinstance(t["marker"]["color"], str)}
    assert drawn <= set(legend), (drawn, legend)
    assert "chosen" in legend[CHOSEN] and "after the rules" in legend["#08519c"]
    assert CUT in drawn and "cut" in legend[CUT]                    # min-p cuts some of the top 20
    # the per-bar coloured trace itself has no legend swatch (it showed the first bar's colour)
    assert all(t.get("showlegend", True) is False for t in fig["data"] if isinstance(t["marker"]["color"], list))


def test_text_gpt_is_described_as_bpe_not_character_level(root):
    card = json.loads((root / "checkpoints" / "text-gpt" / "card.json").read_text())
    assert "character-level" not in card["task_description"] and card["tokenizer"].startswith("BPE")
    assert "character-level" not in (root / "checkpoints" / "text-gpt" / "README.md").read_text()
    assert "character-level" not in engine.get_task("text").description
    at = assert_ok(open_app(root, model="text-gpt", s=["greedy"]))
    head = at.caption[0].value
    assert "BPE" in head and "character-level" not in head, head


def test_train_page_does_not_warn_about_the_run_that_just_finished(root, tmp_path, monkeypatch):
    from engine.training import resume
    monkeypatch.setattr(resume, "RUNS_DIR", tmp_path / "runs")
    tiny = {"name": "stage-tiny", "task": "addition", "arch": "gru-attn", "steps": 3, "batch_size": 8,
            "model": {"d_emb": 8, "d_hidden": 16, "d_attn": 8, "dropout": 0.0, "max_len": 16},
            "eval_every": 3, "eval_examples": 10, "data_sizes": {"train": 100, "valid": 10, "test": 10},
            "lr": 1e-2, "threads": 1}
    job = engine.TrainJob.start(tiny, tmp_path)
    assert job.wait(180) and job.error is None, job.error
    at = assert_ok(open_app(root, "views/train.py"))
    at.text_input(key="tr_out").set_value(str(tmp_path))
    at.text_input(key="tr_name").set_value("stage-tiny").run()
    assert_ok(at)
    assert not [w.value for w in at.warning if "replace" in w.value], [w.value for w in at.warning]
    assert any("the last run saved" in c.value for c in at.caption)
    (tmp_path / "older").mkdir()
    at.text_input(key="tr_name").set_value("older").run()
    assert_ok(at)
    assert any("exists" in w.value and "replaces it" in w.value for w in at.warning)


def test_attention_hypothesis_label_follows_another_run(root):
    at = assert_ok(open_app(root, "views/attention.py", model="dates-transformer", s=["custom A", "greedy"],
                            run="custom A", ca='{"num_beams": 3, "num_return_sequences": 3}',
                            input="the third of march, two thousand twenty-one"))
    _hypothesis_label_follows_another_run(at)
