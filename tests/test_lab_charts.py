"""The lab's chart builders (dashboard/charts: exposure, experiments, training) on real results:
engine.analyze on small n (a seq2seq model and the oracle language model) and every shipped result in
results/experiments/ (a quick experiment run left this file: the redesigned label-smoothing experiment takes
minutes even quick; tests/test_experiments.py runs the experiments).
Every figure must carry data (an empty chart is a bug) and the numbers must be the result's numbers."""
import json
import math
import re
from pathlib import Path

import pytest

from dashboard import charts as lc

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "results" / "experiments").glob("*.json"))


@pytest.fixture(scope="module")
def add_res():
    from engine import exposure
    return exposure.analyze("addition-gru", n=40, n_boot=200)


@pytest.fixture(scope="module")
def hmm_res():
    from engine import exposure
    return exposure.analyze("hmm-gpt", n=30, n_boot=200, oracle_seeds=(0, 1))


def _ys(fig):
    return [y for tr in fig.data for y in (tr.y if tr.y is not None else []) if y is not None]


def _title(fig):
    """A figure's title with its subtitle (style.finish moves a <sup> line into the subtitle)."""
    t = fig.layout.title
    text = (t.text or "") + " " + ((t.subtitle.text or "") if t.subtitle else "")
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())       # the style wraps lines with <br> and <span>


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
    bands = [t for t in fig.data if getattr(t, "fill", None) == "toself"]
    assert len(bands) == 4
    for b in bands:                                # a band is a closed polygon: lo below hi
        n = len(b.y) // 2
        assert all(lo <= hi + 1e-12 for hi, lo in zip(b.y[:n], reversed(b.y[n:])))
    # the oracle LM drifts: free running is worse than teacher forcing on average
    assert sum(p["fr_nll"]) > sum(p["tf_nll"])
    # hmm: labelled as measured against one sampled gold token, not exposure bias
    assert "not exposure bias" in _title(fig)


def test_per_position_figure_shows_n_and_marks_small_n(add_res):
    """n per position in the hover and in a bar panel; positions with n < 30 shaded grey and hollow."""
    p = add_res["per_position"]
    fig = lc.per_position_figure(add_res)
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 1 and list(bars[0].y) == p["examples"]
    tf = _trace(fig, "teacher forcing")
    assert [c[0] for c in tf.customdata] == p["examples"] and "n = %{customdata[0]}" in tf.hovertemplate
    small = [i for i, k in enumerate(p["examples"]) if k < p["small_n"]]
    assert small, "40 sums: the last positions have few examples"
    shaded = sorted({round(s.x0 + 0.5) for s in fig.layout.shapes if s.type == "rect"})
    assert shaded == small
    assert all(tf.marker.symbol[i] == "circle-open" for i in small)
    assert f"grey: fewer than {p['small_n']} examples" in _title(fig)


def test_error_bands_are_wilson_not_zero_width(add_res):
    """A position without errors has a Wilson interval [0, hi > 0], never the bootstrap's [0, 0]."""
    from engine.stats import wilson
    p = add_res["per_position"]
    for i, (e, lo, hi, n) in enumerate(zip(p["tf_error"], p["tf_error_lo"], p["tf_error_hi"], p["examples"])):
        assert (lo, hi) == pytest.approx(wilson(round(e * n), n)[1:], abs=1e-5)
        assert hi > 0


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
    steps = hmm_res["recovery"]["steps"]
    assert len(rec.data) == 5 and len(_trace(rec, "wrong token injected: token = gold").y) == len(steps)
    band = _trace(rec, "wrong token injected: token = gold band")           # Wilson 95% per step
    k = len(steps)
    assert list(band.y[:k]) == [s["injected_matches_gold_hi"] for s in steps]
    assert all(s["injected_matches_gold_lo"] <= s["injected_matches_gold"] <= s["injected_matches_gold_hi"]
               and s["injected_matches_gold_hi"] > s["injected_matches_gold_lo"] for s in steps)
    comp = hmm_res["compounding"]
    fig = lc.compounding_figure(comp)
    assert list(_trace(fig, "measured cumulative gap").y) == comp["measured_cumulative_gap"]
    assert list(_trace(fig, "predicted ΔNLL(T)").y) == comp["predicted_cumulative_gap"]
    assert f"c={comp['c']:.4f}, d={comp['d']:.4f}" in _title(fig)
    # presented, the subtitle is one line (the style wraps it at the narrowest chart's width): "0.126)" was
    # wrapped alone under the lab's pair at 1280x720
    shown = lc.finish(fig, presenting=True).layout.title.text
    assert shown.count("<br>") == 1 and "(rel. " in shown, shown
    d = hmm_res["drift"]
    fig = lc.drift_figure(d)
    fit = [t for t in fig.data if (t.name or "").startswith("fit D(s)")][0]
    # the fitted recursion, iterated: D(1) = alpha * D(0) + eps
    assert math.isclose(fit.y[1], d["alpha"] * d["curve"][0] + d["eps"], rel_tol=1e-9)
    assert any(s.y0 == d["predicted_steady_gap"] for s in fig.layout.shapes)
    o = lc.oracle_figure(hmm_res["oracle"])
    assert list(_trace(o, "on data prefixes").y) == hmm_res["oracle"]["kl_data_prefixes"]
    assert [c[0] for c in _trace(o, "on data prefixes").customdata] == hmm_res["oracle"]["kl_data_examples"]


def test_acc_err_figure_mean_band_and_seeds(hmm_res):
    """Arora et al. fig. style: AccErr and %ExAccErr against l, mean over seeds with its t band and every
    seed drawn (the spread the issue saw between two seeds)."""
    from dashboard.charts.exposure import acc_err_figure, oracle_rows
    o = hmm_res["oracle"]
    fig = acc_err_figure(o, label="hmm-gpt")
    means = [t for t in fig.data if t.name == "mean over 2 seeds"]
    assert list(means[0].y) == o["acc_err"] and list(means[1].y) == o["pct_ex_acc_err"]
    seeds = [t for t in fig.data if t.name == "one sampling seed"]
    assert len(seeds) == 4 and list(seeds[2].y) == o["pct_ex_acc_err_per_seed"][0]
    assert len([t for t in fig.data if getattr(t, "fill", None) == "toself"]) == 2
    iv = o["pct_ex_acc_err_at_length_interval"]
    assert f"[{iv['lo']:.2f}, {iv['hi']:.2f}]" in _title(fig)
    row = oracle_rows({"hmm-gpt": hmm_res})[0]
    assert row["KL/step own prefixes"] == o["mean_kl_model"] and row["verdict"] == o["verdict"]["outcome"]
    assert row["ECE FR vs oracle"] == hmm_res["oracle_calibration"]["fr_ece_vs_oracle"]


def test_drift_figure_states_the_interval(add_res):
    d = add_res["drift"]
    fig = lc.drift_figure(d)
    label = d["regime"].split(":")[0].split(" (")[0]            # "stable drift", "explosive", "undetermined"
    assert label in _title(fig) and f"[{d['alpha_lo']:.3f}" in _title(fig)
    if not d["regime"].startswith("stable"):
        assert d["predicted_steady_gap"] is None and not fig.layout.shapes


@pytest.mark.parametrize("fit", [(1.2, 0.5, 1.1, 1.3), (0.7, 0.5, 0.6, 0.8), (0.98, 0.1, 0.9, 1.05)],
                         ids=["explosive", "stable", "undetermined"])
def test_drift_subtitle_states_the_interval_once(fit):
    """The regime engine.exposure.drift.regime names (with alpha's interval) follows the interval in the
    subtitle: the interval once (twice, presented, the subtitle took three lines above the chart)."""
    from engine.exposure.drift import regime
    alpha, eps, lo, hi = fit
    reg = regime(alpha, eps, lo, hi, 0.5, 20)
    fig = lc.drift_figure({"curve": [0.5, 0.8, 1.0], "counts": [50, 50, 50], "alpha": alpha, "eps": eps,
                           "alpha_lo": lo, "alpha_hi": hi, "regime": reg, "examples": 50})
    title = _title(fig)
    assert title.count(f"{lo:.3f}") == 1 and title.count(f"{hi:.3f}") == 1, title
    assert reg.split(" (")[0].split(" the 95%")[0] in title


def test_drift_without_drift_is_an_annotation_not_an_empty_chart():
    fig = lc.drift_figure({"examples": 0, "curve": [], "counts": [], "alpha": None, "eps": None,
                           "regime": "no drift: free running never left the gold path"})
    assert fig.layout.annotations and "no drift" in fig.layout.annotations[0].text


def test_sequence_rows(add_res, hmm_res):
    rows = lc.sequence_rows({"addition-gru": add_res, "hmm-gpt": hmm_res})
    assert [r["model"] for r in rows] == ["addition-gru", "hmm-gpt"]
    assert rows[0]["exact match (FR)"] == add_res["sequence"]["fr_exact_match"]
    assert rows[0]["95% (Wilson)"] == f"[{add_res['sequence']['fr_exact_match_lo']:.3f}, " \
        f"{add_res['sequence']['fr_exact_match_hi']:.3f}]"


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


def test_beam_curse_chart_one_colour_per_model_dash_per_length_penalty():
    """The shipped beam-curse result: each model keeps its colour in every panel, length normalisation is
    the dashed line (the palette used to cycle over model x penalty, giving two models one colour)."""
    import json
    from pathlib import Path

    from dashboard.charts.experiments import experiment_figures
    res = json.loads((Path(__file__).resolve().parent.parent / "results/experiments/beam-curse.json").read_text())
    lines = [t for t in experiment_figures(res)[0].data if t.mode == "lines+markers"]
    colour = {}
    for t in lines:
        model = t.name.split(", ")[0]
        colour.setdefault(model, set()).add(t.line.color)
        assert (t.line.dash == "dash") == ("length-normalised" in t.name)
    assert all(len(c) == 1 for c in colour.values()) and len({c.pop() for c in colour.values()}) == len(colour)
