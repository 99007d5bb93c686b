"""The lab's chart builders (dashboard/charts: exposure, experiments, training) on real results:
engine.analyze on small n (a seq2seq model and the oracle language model), a quick experiment run,
and every shipped result in results/experiments/.
Every figure must carry data (an empty chart is a bug) and the numbers must be the result's numbers."""
import json
import math
from pathlib import Path

import pytest

from dashboard import charts as lc

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "results" / "experiments").glob("*.json"))


@pytest.fixture(scope="module")
def add_res():
    from engine import exposure
    return exposure.analyze("addition-gru", n=40, n_boot=20)


@pytest.fixture(scope="module")
def hmm_res():
    from engine import exposure
    return exposure.analyze("hmm-gpt", n=30, n_boot=20)


def _ys(fig):
    return [y for tr in fig.data for y in (tr.y if tr.y is not None else []) if y is not None]


def _trace(fig, name):
    hits = [t for t in fig.data if t.name == name]
    assert hits, [t.name for t in fig.data]
    return hits[0]


def test_per_position_figure_has_tf_and_fr_with_bands(hmm_res):
    fig = lc.per_position_figure(hmm_res)
    p = hmm_res["per_position"]
    tf = [t for t in fig.data if t.name == "teacher forcing"]
    fr = [t for t in fig.data if t.name == "free running"]
    assert len(tf) == 2 and len(fr) == 2          # error and NLL panels
    assert list(tf[0].y) == p["tf_error"] and list(fr[1].y) == p["fr_nll"]
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(bands) == 4
    for b in bands:                                # a band is a closed polygon: lo below hi
        n = len(b.y) // 2
        assert all(lo <= hi + 1e-12 for hi, lo in zip(b.y[:n], reversed(b.y[n:])))
    # the oracle LM drifts: free running is worse than teacher forcing on average
    assert sum(p["fr_nll"]) > sum(p["tf_nll"])


def test_reliability_figure_ece_in_legend_and_bins(add_res):
    cal = add_res["calibration"]
    fig = lc.reliability_figure(cal, label="addition-gru")
    tf = [t for t in fig.data if t.name.startswith("teacher forcing")][0]
    assert f"ECE {cal['tf_ece']:.4f}" in tf.name
    used = [b for b in cal["tf_bins"] if b["count"]]
    assert list(tf.x) == [b["confidence"] for b in used] and list(tf.y) == [b["accuracy"] for b in used]
    assert all(0 <= v <= 1 for v in tf.x)


def test_recovery_compounding_drift_oracle(hmm_res):
    rec = lc.exposure_recovery_figure(hmm_res["recovery"])
    assert len(rec.data) == 3 and len(_trace(rec, "wrong token injected: token = gold").y) == len(hmm_res["recovery"]["steps"])
    comp = hmm_res["compounding"]
    fig = lc.compounding_figure(comp)
    assert list(_trace(fig, "measured cumulative gap").y) == comp["measured_cumulative_gap"]
    assert list(_trace(fig, "predicted ΔNLL(T)").y) == comp["predicted_cumulative_gap"]
    assert f"c = {comp['c']:.4f}" in fig.layout.title.text
    d = hmm_res["drift"]
    fig = lc.drift_figure(d)
    fit = [t for t in fig.data if (t.name or "").startswith("fit D(s)")][0]
    # the fitted recursion, iterated: D(1) = alpha * D(0) + eps
    assert math.isclose(fit.y[1], d["alpha"] * d["curve"][0] + d["eps"], rel_tol=1e-9)
    assert any(s.y0 == d["predicted_steady_gap"] for s in fig.layout.shapes)
    o = lc.oracle_figure(hmm_res["oracle"])
    assert list(_trace(o, "on data prefixes").y) == hmm_res["oracle"]["kl_data_prefixes"]
    assert "%ExAccErr" in o.layout.title.text


def test_drift_without_drift_is_an_annotation_not_an_empty_chart():
    fig = lc.drift_figure({"examples": 0, "curve": [], "counts": [], "alpha": None, "eps": None,
                           "regime": "no drift: free running never left the gold path"})
    assert fig.layout.annotations and "no drift" in fig.layout.annotations[0].text


def test_sequence_rows(add_res, hmm_res):
    rows = lc.sequence_rows({"addition-gru": add_res, "hmm-gpt": hmm_res})
    assert [r["model"] for r in rows] == ["addition-gru", "hmm-gpt"]
    assert rows[0]["exact match (FR)"] == add_res["sequence"]["fr_exact_match"]
    assert "%ExAccErr" not in rows[0] and rows[1]["%ExAccErr"] == hmm_res["oracle"]["pct_ex_acc_err_at_length"]


def test_quick_experiment_figures():
    from engine.experiments import run_experiment
    res = run_experiment("label-smoothing", quick=True)
    figs = lc.experiment_figures(res)
    assert len(figs) == 2
    bars = figs[1].data
    assert [b.name for b in bars] == ["teacher forcing", "free running"]
    assert list(bars[0].y) == [res["data"][m]["calibration"]["tf_ece"] for m in res["data"]]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_result_renders_with_data(path):
    from engine.experiments import load_result
    res = load_result(path)
    figs = lc.experiment_figures(res)
    assert figs
    for f in figs:
        assert f.data and len(_ys(f)) >= 2, (path.stem, f.layout.title.text)
        json.loads(f.to_json())                      # serialisable as the page sends it


def test_shipped_results_cover_the_eight_experiments():
    from engine.experiments import EXPERIMENTS
    assert {p.stem for p in SHIPPED} == set(EXPERIMENTS)


def test_unknown_experiment_is_a_value_error():
    with pytest.raises(ValueError, match="no charts"):
        lc.experiment_figures({"name": "nope"})


def test_training_and_schedule_figures():
    steps = [{"step": i, "loss": 2.0 / i, "eps": 1 - i / 100, "elapsed": i * 0.1} for i in range(1, 61)]
    evals = [{"step": 30, "valid_exact_match": 0.4, "valid_nll": 0.9, "elapsed": 3.0, "eps": 0.7},
             {"step": 60, "valid_exact_match": 0.6, "valid_nll": 0.6, "elapsed": 6.0, "eps": 0.4}]
    fig = lc.training_figure(steps, evals)
    names = [t.name for t in fig.data]
    assert "training loss" in names and "ε (gold-token probability)" in names
    assert "validation valid_exact_match" in names and "validation valid_nll" in names
    assert "validation elapsed" not in names and "validation eps" not in names
    em = _trace(fig, "validation valid_exact_match")
    assert list(em.x) == [30, 60] and em.yaxis == "y2"          # metric on the 0..1 axis
    assert _trace(fig, "validation valid_nll").yaxis == "y"     # loss-like on the loss axis
    # teacher forcing only (eps always 1): no eps line
    assert "ε (gold-token probability)" not in [t.name for t in lc.training_figure(
        [dict(s, eps=1.0) for s in steps], []).data]
    from engine.training import schedules
    xs = list(range(0, 101, 10))
    eps = [schedules.inverse_sigmoid(i, 20.0) for i in xs]
    sf = lc.schedule_figure(xs, eps, "inverse_sigmoid")
    assert list(sf.data[0].y) == eps and sf.data[0].y[0] > sf.data[0].y[-1]
