"""engine.compare_tf_fr takes budget= like engine.generate: the whole comparison (the teacher-forced
scoring plus the free run) is checked before any model call, and the budget reaches the free run."""
import math

import pytest

import engine
from engine.decoding import budget as work
from engine.decoding.inputs import prepare

SRC, REF = "3 march 2021", "2021-03-03"


@pytest.fixture(scope="module")
def gru():
    return engine.load("dates-gru-attn")


def _parts(b, cfg):
    n = [len(prepare(b, SRC, 1).ids)]
    tf = work.estimate({"max_new_tokens": len(REF) + 1}, None, model=b, input_tokens=n).total     # + <eos>
    return tf, work.estimate(cfg, None, model=b, input_tokens=n).total


def test_over_budget_is_refused_in_one_line_before_any_model_call(gru, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the model ran")
    monkeypatch.setattr(gru.model, "start", boom)
    with pytest.raises(engine.LimitError) as e:
        engine.compare_tf_fr(gru, SRC, REF, budget=10)
    msg = str(e.value)
    assert "\n" not in msg and "over the budget of 10 (budget=)" in msg and "engine.compare_tf_fr" in msg
    with pytest.raises(ValueError, match="budget=0 is not allowed"):
        engine.compare_tf_fr(gru, SRC, REF, budget=0)


def test_the_budget_counts_teacher_forcing_and_free_running(gru):
    cfg = {"max_new_tokens": 11}
    tf, fr = _parts(gru, cfg)
    assert tf > 0 and fr > 0
    with pytest.raises(engine.LimitError, match="teacher forcing .* free running"):
        engine.compare_tf_fr(gru, SRC, REF, cfg, budget=tf + fr - 1)       # each part alone would fit
    exact = engine.compare_tf_fr(gru, SRC, REF, cfg, budget=tf + fr)
    assert exact.rows == engine.compare_tf_fr(gru, SRC, REF, cfg).rows


def test_the_budget_reaches_the_free_run(gru, monkeypatch):
    monkeypatch.setenv(work.ENV, "1")                    # the default budget: refuses everything
    with pytest.raises(engine.LimitError, match=work.ENV):
        engine.compare_tf_fr(gru, SRC, REF)
    c = engine.compare_tf_fr(gru, SRC, REF, budget=math.inf)
    assert c.first_divergence is None and c.fr.hypotheses[0]["text"] == REF


def test_the_dashboards_comparison_keeps_the_dashboards_budget(monkeypatch):
    """dashboard/runs.py run_tffr passes DASHBOARD_MAX_WORK as run_generate does (it ran under the
    engine's default budget): over it, one line before any model call, and nothing cached."""
    from dashboard import runs
    b = runs.load_model("dates-gru-attn")
    monkeypatch.setattr(engine, "DASHBOARD_MAX_WORK", 10)
    monkeypatch.setattr(b.model, "start", lambda *a, **k: (_ for _ in ()).throw(AssertionError("the model ran")))
    cfg = runs.cfg_json({"max_new_tokens": 12})
    with pytest.raises(engine.LimitError) as e:
        runs.run_tffr("dates-gru-attn", "a source no other test uses", REF, cfg)
    assert "\n" not in str(e.value) and "budget" in str(e.value)
