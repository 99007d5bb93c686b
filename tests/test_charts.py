"""Chart builders: the figure's data matches the trace (cells, nodes, bars).

The fixtures are small hand-built traces following docs/trace-format.md, so these tests do not
depend on the decoding engine.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard import charts
from dashboard.report import comparison_report
from engine.trace import view


def _dist(pairs):
    return [{"id": i, "token": t, "prob": p} for i, t, p in pairs]


def make_greedy_trace(strategy="greedy", out="2021", seed=None):
    src = ["M", "a", "r", " ", "3"]
    vocab = {c: 10 + i for i, c in enumerate("0123456789")}
    steps, logps = [], []
    for t, ch in enumerate(out):
        p = 0.9 - 0.1 * t
        top_before = _dist([(vocab[ch], ch, p), (vocab["9"] if ch != "9" else 11, "9" if ch != "9" else "1", 0.06),
                            (5, "<eos>", 1 - p - 0.06)])
        top_after = _dist([(vocab[ch], ch, p / (p + 0.06)), (top_before[1]["id"], top_before[1]["token"], 0.06 / (p + 0.06))])
        cross = [[[0.1 * (t + 1), 1 - 0.1 * (t + 1), 0.0, 0.0, 0.0][::1] for _ in range(2)]]
        cross[0][1] = [0.2, 0.2, 0.2, 0.2, 0.2]
        keys = ["<bos>"] + list(out[:t])
        self_attn = [[[1.0 / (t + 1)] * (t + 1)] * 2]
        steps.append({"step": t, "hypotheses": [{
            "slot": 0, "node": None, "prefix_ids": [vocab[c] for c in out[:t]], "token_id": vocab[ch],
            "token": ch, "prob": top_after[0]["prob"], "logprob": math.log(top_after[0]["prob"]),
            "raw_logprob": math.log(p), "entropy": 0.3 + 0.1 * t, "entropy_raw": 0.5 + 0.1 * t,
            "top_before": top_before, "top_after": top_after, "self_attn": self_attn,
            "self_attn_keys": keys, "cross_attn": cross, "hidden": [0.1, 0.2]}]})
        logps.append(math.log(p))
    return {
        "format_version": 1,
        "model": {"name": "fixture", "arch": "transformer", "task": "dates", "kind": "seq2seq",
                  "is_encoder_decoder": True, "n_layers": 1, "n_heads": 2, "has_self_attention": True,
                  "has_cross_attention": True},
        "config": {"max_new_tokens": 8}, "strategy": strategy, "seed": seed,
        "input": {"text": "Mar 3", "tokens": src, "token_ids": [1, 2, 3, 4, 5]},
        "forced": {"prefix": [], "tokens": {}}, "timing": {"total_s": 0.01, "steps_s": [0.001] * len(out)},
        "warnings": [], "recording": {"top_k": 3, "layers": "all", "hidden_states": True, "attention": True},
        "encoder_attention": None, "steps": steps,
        "hypotheses": [{"text": out, "tokens": list(out), "token_ids": [vocab[c] for c in out],
                        "token_logprobs": logps, "score": sum(logps), "normalized_score": sum(logps) / len(out),
                        "finished": True, "node": None}],
        "beam": None, "mbr": None,
    }


def make_beam_trace():
    """A 2-beam search over 3 steps: root -> a/b; a -> aa (kept), ab (pruned); b -> ba (kept),
    bb (finished); aa -> <eos> finished (winner), ..."""
    N = []

    def node(i, parent, step, tok, lp, status):
        pc = 0.0 if parent is None else next(n for n in N if n["id"] == parent)["cum_logprob"]
        cum = pc + lp
        N.append({"id": i, "parent": parent, "step": step, "token": tok, "token_id": 100 + i, "logprob": lp,
                  "cum_logprob": cum, "score": cum / max(1, step + 1), "status": status, "group": 0})

    node(0, None, -1, "<bos>", 0.0, "kept")
    node(1, 0, 0, "a", -0.2, "kept")
    node(2, 0, 0, "b", -0.5, "kept")
    node(3, 0, 0, "c", -3.0, "pruned")
    node(4, 0, 0, "d", -4.0, "pruned")
    node(5, 1, 1, "a", -0.1, "kept")
    node(6, 1, 1, "b", -2.0, "pruned")
    node(7, 2, 1, "<eos>", -1.0, "finished")
    node(8, 2, 1, "a", -0.3, "kept")
    node(9, 5, 2, "<eos>", -0.05, "finished")
    node(10, 5, 2, "x", -3.5, "pruned")
    node(11, 8, 2, "<eos>", -0.4, "finished")
    node(12, 8, 2, "y", -2.5, "pruned")
    steps = []
    for t, (entries) in enumerate([[(0, 0, [])], [(0, 1, [101]), (1, 2, [102])], [(0, 5, [101, 105]), (1, 8, [102, 108])]]):
        hyps = []
        for slot, nid, prefix in entries:
            hyps.append({"slot": slot, "node": nid, "prefix_ids": prefix, "token_id": None, "token": None,
                         "prob": None, "logprob": None, "raw_logprob": None, "entropy": 0.5, "entropy_raw": 0.6,
                         "top_before": _dist([(101, "a", 0.6), (102, "b", 0.3), (103, "c", 0.1)]),
                         "top_after": _dist([(101, "a", 0.6), (102, "b", 0.3), (103, "c", 0.1)]),
                         "self_attn": None, "self_attn_keys": [], "cross_attn": [[[0.5, 0.5]]], "hidden": None})
        steps.append({"step": t, "hypotheses": hyps})
    tr = make_greedy_trace("beam")
    tr["input"] = {"text": "xy", "tokens": ["x", "y"], "token_ids": [1, 2]}
    tr["steps"] = steps
    tr["beam"] = {"num_beams": 2, "num_beam_groups": 1, "length_penalty": 1.0, "early_stopping": False, "nodes": N}
    tr["hypotheses"] = [
        {"text": "aa", "tokens": ["a", "a", "<eos>"], "token_ids": [101, 105, 109], "token_logprobs": [-0.2, -0.1, -0.05],
         "score": -0.35, "normalized_score": -0.35 / 3, "finished": True, "node": 9},
        {"text": "b", "tokens": ["b", "<eos>"], "token_ids": [102, 107], "token_logprobs": [-0.5, -1.0],
         "score": -1.5, "normalized_score": -0.75, "finished": True, "node": 7},
    ]
    return tr


def make_tffr():
    rows = []
    ref = "2021"
    fr = "2031"
    for t, (r, f) in enumerate(zip(ref, fr)):
        rows.append({"t": t, "ref_token": r, "ref_id": 10 + int(r), "tf_logprob": -0.1 * t,
                     "fr_logprob": -0.1 * t if t < 2 else -2.0 - t, "kl": 0.0 if t < 3 else 1.5,
                     "hidden_dist": 0.0 if t < 3 else 2.0, "fr_token": f, "fr_id": 10 + int(f),
                     "on_track": t < 3})
    return {"rows": rows, "first_divergence": 2}


# -- tests -------------------------------------------------------------------------------------

def test_hypothesis_steps_greedy_follow_trace():
    tr = make_greedy_trace()
    rows = charts.hypothesis_steps(tr)
    assert [r["token"] for r in rows] == list("2021")
    assert rows[1]["prob"] == pytest.approx(tr["steps"][1]["hypotheses"][0]["prob"])


def test_hypothesis_steps_beam_follow_winner_nodes():
    tr = make_beam_trace()
    rows = charts.hypothesis_steps(tr, 0)
    assert [r["entry"]["node"] for r in rows] == [0, 1, 5]
    rows1 = charts.hypothesis_steps(tr, 1)
    assert [r["entry"]["node"] for r in rows1] == [0, 2]


def test_first_divergence():
    a, b = make_greedy_trace(out="2021"), make_greedy_trace(out="2031")
    assert charts.first_divergence({"a": a, "b": b}) == 2
    assert charts.first_divergence({"a": a, "b": make_greedy_trace(out="2021")}) is None
    assert charts.first_divergence({"a": a, "b": make_greedy_trace(out="20")}) == 2


def test_compare_figure_has_one_line_per_run_and_marks_divergence():
    a, b = make_greedy_trace(out="2021"), make_greedy_trace("sample", out="2031")
    fig = charts.compare_figure({"greedy": a, "sample": b})
    probs = [t for t in fig.data if t.yaxis == "y"]
    ents = [t for t in fig.data if t.yaxis == "y2"]
    assert [t.name for t in probs] == ["greedy", "sample"]
    assert list(probs[0].y) == pytest.approx([s["hypotheses"][0]["prob"] for s in a["steps"]])
    assert list(ents[1].y) == pytest.approx([s["hypotheses"][0]["entropy"] for s in b["steps"]])
    assert any(s.x0 == 2 for s in fig.layout.shapes)
    assert "first divergence at step 2" in fig.layout.title.text
    assert fig.layout.paper_bgcolor == charts.BG


def test_tokens_html_escapes_and_colours():
    h = charts.tokens_html([("<b>", 0.9), ("x", 0.1)])
    assert "&lt;b&gt;" in h and "<b>" not in h
    assert h.count("<span") == 2 and "p = 0.900" in h and "p = 0.100" in h


def test_a_presented_output_box_holds_at_most_its_rows_and_scrolls():
    h = charts.tokens_html([("ab", 0.5)] * 100, font_size=24, max_lines=2)
    assert charts.line_px(24) == 50 and "max-height:100px" in h and "overflow-y:auto" in h and "line-height:50px" in h
    assert "max-height" not in charts.tokens_html([("ab", 0.5)], font_size=24)      # not presenting: the whole output
    assert "mask-image" not in h and "mask-image" in charts.tokens_html([("ab", 0.5)], font_size=24, max_lines=2, more=True)
    # 24 px monospace: a 4-character token is 4 x 14.4 + 8 = 65.6 px; three fit in 200 px, a fourth starts a row
    assert charts.rows_needed(["abcd"] * 3, 200, 24) == 1 and charts.rows_needed(["abcd"] * 4, 200, 24) == 2
    assert charts.rows_needed(["abcd"] * 10, 200, 24) == 4 and charts.rows_needed([], 200, 24) == 1
    assert charts.rows_needed(["x" * 40], 200, 24) == 1          # a token wider than the box still takes one row


def test_step_rows_mark_cut_and_chosen():
    tr = make_greedy_trace()
    e = tr["steps"][0]["hypotheses"][0]
    rows = charts.step_rows(e, e["token_id"])
    by_tok = {r["token"]: r for r in rows}
    assert by_tok["<eos>"]["cut"] is True and by_tok["<eos>"]["after"] == 0.0
    assert by_tok["2"]["chosen"] and not by_tok["2"]["cut"]
    fig = charts.step_figure(e, e["token_id"])
    before, after = fig.data[:2]                       # then the legend entries of the bar colours
    assert list(before.x) == pytest.approx([d["prob"] for d in e["top_before"]])
    assert list(after.text) == ["★ chosen", "", "cut"]
    assert after.marker.color[2] == charts.CUT
    flog = charts.step_figure(e, e["token_id"], log=True)
    assert flog.layout.xaxis.type == "log" and flog.data[1].x[2] > 0   # the cut bar sits at the floor


def test_attention_matrix_cross_and_self():
    tr = make_greedy_trace()
    rows, cols, mat = view.attention_matrix(tr, "cross", 0, 0)
    assert cols == tr["input"]["tokens"] and len(rows) == 4
    assert mat[2] == pytest.approx(tr["steps"][2]["hypotheses"][0]["cross_attn"][0][0])
    _, _, avg = view.attention_matrix(tr, "cross", 0, "avg")
    assert avg[0][0] == pytest.approx((0.1 + 0.2) / 2)
    rows, cols, mat = view.attention_matrix(tr, "self", 0, 1)
    assert cols == ["<bos>", "2", "0", "2"]
    assert mat[0] == [1.0, None, None, None] and mat[3] == pytest.approx([0.25] * 4)
    with pytest.raises(ValueError, match="layer 3"):
        view.attention_matrix(tr, "cross", 3, 0)


def test_attention_heatmap_cells_match_trace_and_have_selection():
    tr = make_greedy_trace()
    spec = charts.attention_heatmap(tr, "cross", 0, 1).to_dict()
    vals = spec["data"]["values"]
    assert len(vals) == 4 * 5
    cell = next(v for v in vals if v["step"] == 1 and v["key_pos"] == 3)
    assert cell["weight"] == pytest.approx(0.2)
    assert spec["params"][0]["name"] == "pick"
    assert spec["config"]["background"] == charts.BG


GRID_TRANSFORMS = [{"calculate": "split(datum.m, ',')", "as": "m"}, {"flatten": ["m"]},
                   {"window": [{"op": "row_number", "field": "", "as": "k"}], "groupby": ["l", "h", "r"]},
                   {"calculate": "datum.k - 1", "as": "k"}, {"calculate": "toNumber(datum.m) / 1000", "as": "w"},
                   {"filter": "datum.w >= 0"}]


def grid_cells(spec: dict) -> list[dict]:
    """The attention grid's cells as Vega-Lite makes them from the compact records: split each row's
    string of weights (thousandths), flatten, number the keys from 0 in the row's order, drop the -1
    (not recorded) ones. (tests/test_browser.py checks that the browser draws the grid's colours.)"""
    assert spec["spec"]["transform"] == GRID_TRANSFORMS
    return [{"l": v["l"], "h": v["h"], "r": v["r"], "k": k, "w": int(m) / 1000}
            for v in spec["data"]["values"] for k, m in enumerate(v["m"].split(",")) if int(m) >= 0]


def test_attention_grid_and_entropy():
    tr = make_greedy_trace()
    spec = charts.attention_grid(tr, "cross").to_dict()
    vals = grid_cells(spec)
    assert len(vals) == 2 * 4 * 5          # heads x steps x source tokens
    assert len(spec["data"]["values"]) == 2 * 4          # one record per head and step
    cell = next(v for v in vals if v["h"] == 0 and v["r"] == 2 and v["k"] == 1)
    assert cell["w"] == pytest.approx(tr["steps"][2]["hypotheses"][0]["cross_attn"][0][0][1], abs=1e-3)
    ent = view.attention_entropy(tr, "cross")
    h0 = -sum(p * math.log(p) for p in [0.1, 0.9])
    h1 = math.log(5)
    assert ent[0][0] == pytest.approx((h0 + h1) / 2)
    fig = charts.attention_entropy_figure(tr, "cross")
    assert list(fig.data[0].y) == pytest.approx(ent[0])


def test_beam_layout_no_crossing_and_reveal():
    tr = make_beam_trace()
    pos = view.beam_layout(tr)
    assert len(pos) == 13
    # children are stacked in their parents' order: every child of node 1 is above every child of node 2
    assert min(pos[i][1] for i in (5, 6)) > max(pos[i][1] for i in (7, 8))
    assert set(view.beam_layout(tr, upto_step=0)) == {0, 1, 2, 3, 4}


def test_beam_tree_figure_nodes_and_winner():
    tr = make_beam_trace()
    fig = charts.beam_tree_figure(tr)
    by_name = {t.name: t for t in fig.data if t.name}
    assert len(by_name["pruned"].x) == 5 and len(by_name["finished"].x) == 3
    assert len(by_name["kept"].x) == 5                      # root + 4 kept
    win = by_name["chosen hypothesis"]
    assert len([x for x in win.x if x is not None]) == 2 * 3  # 3 edges root->1->5->9
    assert view.winner_path(tr) == [0, 1, 5, 9]
    assert charts.beam_counts(tr) == {"kept": 4, "finished": 3, "pruned": 5}
    fig0 = charts.beam_tree_figure(tr, upto_step=0)
    names0 = {t.name: t for t in fig0.data if t.name}
    assert "finished" not in names0 and len(names0["pruned"].x) == 2
    assert any("cumulative -0.300" in h for h in by_name["kept"].hovertext)


def test_tffr_and_recovery_figures():
    cmp = make_tffr()
    fig = charts.tffr_figure(cmp)
    assert list(fig.data[0].y) == [r["tf_logprob"] for r in cmp["rows"]]
    assert list(fig.data[1].y) == [r["fr_logprob"] for r in cmp["rows"]]
    assert list(fig.data[2].y) == [r["kl"] for r in cmp["rows"]]
    assert any(s.x0 == 2 for s in fig.layout.shapes)
    inj = make_tffr()
    inj["rows"][1]["fr_logprob"] = -5.0
    fig2 = charts.recovery_figure(cmp, inj, 1)
    assert fig2.data[1].y[1] == -5.0 and fig2.data[0].y[1] == cmp["rows"][1]["fr_logprob"]


def test_tiny_log_prob_differences_stay_tiny_on_the_tffr_axes():
    """Issue 13: the "one wrong note" tour's y-axis ran -90µ..0 (log-probs a few µ apart), so differences
    of 1e-5 nats looked like deep dips. A log-prob axis is now at least 1 nat high, the KL axis 0.1 nat;
    data that spread wider keeps Plotly's own range."""
    cmp, inj = make_tffr(), make_tffr()
    for c, shift in ((cmp, 0.0), (inj, -2e-6)):
        for i, r in enumerate(c["rows"]):
            r["tf_logprob"], r["fr_logprob"], r["kl"] = -1e-5 * (i + 1), -1e-5 * (i + 1) + shift, 1e-6 * i
    rec = charts.recovery_figure(cmp, inj, 1)
    lo, hi = rec.layout.yaxis.range
    assert hi - lo >= 1.0 and hi >= 0 and lo <= -1.0 + 1e-9
    fig = charts.tffr_figure(cmp)
    lo, hi = fig.layout.yaxis.range
    assert hi - lo >= 1.0 and hi >= 0
    lo, hi = fig.layout.yaxis2.range
    assert lo <= 0 and hi - lo >= 0.1
    wide = make_tffr()
    for i, r in enumerate(wide["rows"]):
        r["fr_logprob"] = -3.0 * i
    assert charts.recovery_figure(wide, wide, 1).layout.yaxis.range is None


def test_compare_entropy_axis_is_at_least_half_a_nat_high():
    """Beam search's entropies of 1e-4 nats (dates-gru-attn) filled the axis as 0..400µ, like a real
    uncertainty; the axis is now at least 0.5 nat high. Wider entropies keep Plotly's range."""
    a, b = make_greedy_trace(), make_beam_trace()
    for tr, e in ((a, 0.0), (b, 4e-4)):
        for st in tr["steps"]:
            for h in st.get("hypotheses") or []:
                h["entropy"] = e
    lo, hi = charts.compare_figure({"greedy": a, "beam": b}).layout.yaxis2.range
    assert lo <= 0 and hi - lo >= 0.5
    for st in b["steps"]:
        for h in st.get("hypotheses") or []:
            h["entropy"] = 2.0
    assert charts.compare_figure({"greedy": a, "beam": b}).layout.yaxis2.range is None


def test_mbr_figure():
    tr = make_greedy_trace("mbr")
    assert charts.mbr_figure(tr) is None
    tr["mbr"] = {"candidates": ["a", "b", "c"], "source": "samples", "utility": "chrf",
                 "matrix": [[100, 20, 30], [20, 100, 50], [30, 50, 100]], "expected_utility": [50, 56, 60], "chosen": 2}
    fig = charts.mbr_figure(tr)
    assert [list(r) for r in fig.data[0].z] == tr["mbr"]["matrix"]
    assert fig.layout.shapes[0].y0 == 1.5


def test_null_scores_and_logprobs_render():
    tr = make_greedy_trace()
    tr["hypotheses"][0]["score"] = tr["hypotheses"][0]["normalized_score"] = None
    tr["hypotheses"][0]["token_logprobs"][1] = None
    pairs = charts.token_probs(tr)
    assert pairs[1][1] is None and "p not recorded" in charts.tokens_html(pairs)
    assert "score —" in comparison_report({"greedy": tr})


def test_report_is_standalone_offline_html():
    a, b = make_greedy_trace(out="2021"), make_beam_trace()
    html = comparison_report({"greedy": a, "beam": b})
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html
    assert "<script src=" not in html.replace("<script src=\"data:", "")   # nothing fetched from a network
    assert html.count("Plotly.newPlot") == 2                               # comparison + beam tree
    assert "first part ways at step 0" in html
    assert "&lt;eos&gt;" in html                                           # tokens escaped
    with pytest.raises(ValueError):
        comparison_report({})


def test_encoder_attention_heatmap():
    tr = make_greedy_trace()
    assert charts.encoder_attention_heatmap(tr) is None
    tr["encoder_attention"] = [[[[0.5, 0.5, 0, 0, 0]] * 5, [[0.2] * 5] * 5]]
    vals = charts.encoder_attention_heatmap(tr, 0, "avg").to_dict()["data"]["values"]
    assert len(vals) == 25 and vals[0]["weight"] == pytest.approx(0.35)
    assert charts.encoder_attention_heatmap(tr, 0, 1).to_dict()["data"]["values"][0]["weight"] == pytest.approx(0.2)


# -- the package's contract: torch-free, old traces render, the report cannot be broken out of ---------

FIXTURES = sorted((Path(__file__).resolve().parent / "fixtures" / "traces").glob("*.json"))


def test_importing_the_charts_does_not_import_torch():
    code = ("import sys; import dashboard.charts, dashboard.report; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr or "importing dashboard.charts imported torch"


def _render_trace(name, tr):
    """Every builder that applies to one trace; each figure must carry data."""
    figs = [charts.compare_figure({name: tr})]
    rows = charts.hypothesis_steps(tr)
    assert rows, name
    figs += [charts.step_figure(r["entry"], r["token_id"]) for r in rows]
    for kind in ("cross", "self"):
        if charts.has_attention(tr, kind):
            charts.attention_heatmap(tr, kind, 0, "avg").to_dict(validate=False)
            charts.attention_grid(tr, kind, max_layers=1).to_dict(validate=False)
            figs.append(charts.attention_entropy_figure(tr, kind))
    if tr.get("encoder_attention"):
        charts.encoder_attention_heatmap(tr).to_dict(validate=False)
    if tr.get("beam"):
        figs.append(charts.beam_tree_figure(tr))
    if tr.get("mbr"):
        figs.append(charts.mbr_figure(tr))
    for f in figs:
        assert f.data, name
        json.loads(f.to_json())
    assert "<!DOCTYPE html>" in comparison_report({name: tr})


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_every_saved_trace_renders(path):
    """Traces saved by the writer before the architecture change (format version 1) still render."""
    d = json.loads(path.read_text())
    if set(d) == {"rows", "first_divergence", "summary", "tf", "fr"}:      # a TF/FR comparison
        fig = charts.tffr_figure(d)
        assert list(fig.data[0].y) == [r["tf_logprob"] for r in d["rows"]]
        step = view.injected_step(d["fr"])
        assert step is not None                                            # this one had a token injected
        assert any(s.x0 == step and s.line.color == charts.INJECTED for s in fig.layout.shapes)
        assert charts.recovery_figure(d, d, step).data
        for name in ("tf", "fr"):
            _render_trace(name, d[name])
        assert "first part ways" in comparison_report({"tf": d["tf"], "fr": d["fr"]})
    else:
        _render_trace(path.stem, d)


def test_report_escapes_run_names_and_tokens():
    bad = "</script><script>alert(1)</script><b>&"
    a, b = make_greedy_trace(out="2021"), make_beam_trace()
    a["hypotheses"][0]["tokens"][0] = "</script>"
    html = comparison_report({bad: a, "beam " + bad: b})
    assert "alert(1)" not in html.replace("alert(1)&lt;", "").replace("alert(1)\\u0026lt;", "")  # escaped copies
    assert "<script>alert" not in html and "</script><b>" not in html
    assert html.count("<script") == html.count("</script>")                # every script closed by its own tag
    assert html.count("Plotly.newPlot") == 2
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;&amp;" in html


def _strings(x):
    if isinstance(x, str):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from _strings(v)
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _strings(v)


def test_trace_text_reaches_plotly_escaped():
    """Plotly reads <b>, <br>, <a href> in titles, labels, texts and hovers as markup: every token and
    candidate string from a trace reaches a figure HTML-escaped (shown literally). Quotes stay: Plotly decodes
    no &quot; (the beam tree showed the token " as "&quot;")."""
    bad = "<img src=x><a href='https://x'>\"y\"</a>"
    greedy, beam, tffr = make_greedy_trace(out="2021"), make_beam_trace(), make_tffr()
    for st in greedy["steps"]:
        h = st["hypotheses"][0]
        h["token"] = bad
        for e in h["top_before"] + h["top_after"]:
            e["token"] = bad
    greedy["hypotheses"][0]["tokens"] = [bad] * len(greedy["hypotheses"][0]["tokens"])
    for n in beam["beam"]["nodes"]:
        n["token"] = bad
    for r in tffr["rows"]:
        r["ref_token"] = r["fr_token"] = bad
    mbr = make_greedy_trace()
    mbr["mbr"] = {"candidates": [bad, "b"], "matrix": [[1.0, 0.5], [0.5, 1.0]], "utility": "chrf", "chosen": 0}
    figs = [charts.compare_figure({bad: greedy}), charts.step_figure(greedy["steps"][0]["hypotheses"][0], 12),
            charts.beam_tree_figure(beam), charts.tffr_figure(tffr), charts.recovery_figure(tffr, tffr, 1),
            charts.attention_entropy_figure(greedy, "cross"), charts.mbr_figure(mbr)]
    for fig in figs:
        strings = list(_strings(fig.to_plotly_json()))
        assert not [s for s in strings if "<img" in s or "<a " in s], [s for s in strings if "<img" in s][:3]
        assert any("&lt;img src=x&gt;" in s for s in strings)
        assert not [s for s in strings if "&quot;" in s], [s for s in strings if "&quot;" in s][:3]


# -- the chart style (issue 13: readable everywhere) ---------------------------------------------------

import importlib  # noqa: E402

style_mod = importlib.import_module("dashboard.charts.style")      # `charts.style` is the function


def _every_figure():
    """One figure of every Plotly builder (hand-built traces and the shipped experiment results)."""
    g, b, cmp = make_greedy_trace(), make_beam_trace(), make_tffr()
    mbr = make_greedy_trace("mbr")
    mbr["mbr"] = {"candidates": ["2021-03-03"] * 3, "source": "samples", "utility": "chrf",
                  "matrix": [[100, 20, 30], [20, 100, 50], [30, 50, 100]], "expected_utility": [50, 56, 60],
                  "chosen": 2}
    rows = charts.hypothesis_steps(g)
    figs = {"compare": charts.compare_figure({"greedy": g, "beam": b}, title="compare"),
            "step": charts.step_figure(rows[1]["entry"], rows[1]["token_id"], title="step"),
            "step-log": charts.step_figure(rows[1]["entry"], rows[1]["token_id"], log=True),
            "entropy": charts.attention_entropy_figure(g, "cross", title="entropy"),
            "beam": charts.beam_tree_figure(b, title="beam"), "tffr": charts.tffr_figure(cmp, title="tffr"),
            "recovery": charts.recovery_figure(cmp, make_tffr(), 1), "mbr": charts.mbr_figure(mbr),
            "schedule": charts.schedule_figure([0, 1, 2], [1.0, 0.5, 0.0], "linear"),
            "training": charts.training_figure([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}],
                                               [{"step": 2, "valid_loss": 1.5}]),
            "drift": charts.drift_figure({"curve": [1.0, 1.5, 1.7], "alpha": 0.5, "eps": 1.0,
                                          "predicted_steady_gap": 2.0, "measured_plateau": 1.7, "regime": "stable"})}
    for p in sorted((Path(__file__).resolve().parent.parent / "results" / "experiments").glob("*.json")):
        for i, f in enumerate(charts.experiment_figures(json.loads(p.read_text()))):
            figs[f"{p.stem}-{i}"] = f
    return figs


def _font_sizes(obj, key=""):
    """Every explicit font size in a figure dict (font, tickfont, textfont, title.font, ...)."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "size" and key.endswith("font"):
                out += [float(x) for x in (v if isinstance(v, (list, tuple)) else [v]) if x is not None]
            else:
                out += _font_sizes(v, k)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            out += _font_sizes(v, key)
    return out


@pytest.mark.parametrize("present", [False, True])
def test_every_chart_text_is_at_least_the_minimum_size(present):
    floor = charts.MIN_PX[present]
    assert floor == (14 if present else 12)
    for name, fig in _every_figure().items():
        fig = charts.finish(fig, presenting=present)
        d = fig.to_dict()
        sizes = _font_sizes(d["layout"]) + _font_sizes(d["data"])
        assert d["layout"]["font"]["size"] >= floor, name
        assert sizes and min(sizes) >= floor, (name, min(sizes))
        # a title's <sup> line (drawn at 70 %) becomes a subtitle at full size
        assert "<sup>" not in str((d["layout"].get("title") or {}).get("text")), name


def test_presentation_mode_grows_every_text_and_refinishing_is_stable():
    fig = charts.step_figure(*(lambda r: (r["entry"], r["token_id"]))(charts.hypothesis_steps(make_greedy_trace())[1]))
    normal = charts.finish(fig, presenting=False)
    bar_text = normal.data[1].textfont.size
    present = charts.finish(normal, presenting=True)
    assert present.data[1].textfont.size > bar_text          # "★ chosen" / "cut" grow with the mode
    assert present.layout.xaxis.tickfont.size > 13 and present.layout.height >= normal.layout.height
    assert present.data[1].constraintext == "none"             # Plotly would shrink "★ chosen" to fit
    again = charts.finish(charts.finish(present, presenting=False), presenting=False)
    assert again.layout.height == normal.layout.height and again.data[1].textfont.size == bar_text


def test_margins_axis_titles_and_legends_are_laid_out_outside_the_plot():
    for name, fig in _every_figure().items():
        lay = fig.layout
        for ax in list(fig.select_xaxes()) + list(fig.select_yaxes()):
            assert ax.automargin is True and ax.title.standoff == 10, name
        if lay.title.text:
            assert lay.title.automargin is True and lay.title.yref == "paper" and lay.title.yanchor == "bottom", name
        if lay.showlegend:
            lg = lay.legend
            below = lg.orientation == "h" and lg.yref == "container" and lg.y <= 0.05 and lg.yanchor == "bottom"
            right = lg.orientation == "v" and lg.x >= 1.0 and lg.xanchor == "left"
            assert below or right, (name, lg)


def test_step_legend_below_in_its_own_strip_not_over_the_x_title():
    rows = charts.hypothesis_steps(make_greedy_trace())
    lg = charts.step_figure(rows[1]["entry"], rows[1]["token_id"]).layout.legend
    assert lg.orientation == "h" and lg.yref == "container" and lg.yanchor == "bottom"


def test_notation_in_axis_titles_is_plain_and_long_y_titles_wrap():
    fig = charts.compounding_figure({"measured_cumulative_gap": [0.1, 0.2], "predicted_cumulative_gap": [0.1, 0.3]})
    yt = fig.layout.yaxis.title.text
    assert "Σ_{" not in yt and "sum over t≤T of" in yt
    long = go_figure_with_y_title("a very long axis title " * 4)
    assert "<br>" in long.layout.yaxis.title.text


def go_figure_with_y_title(text):
    import plotly.graph_objects as go
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1]))
    fig.update_yaxes(title_text=text)
    return charts.finish(fig, height=300)


def test_reference_line_labels_move_into_the_legend():
    fig = charts.drift_figure({"curve": [1.0, 1.5, 1.7], "alpha": 0.5, "eps": 1.0, "predicted_steady_gap": 2.0,
                               "measured_plateau": 1.7, "regime": "stable"})
    texts = [a.text for a in fig.layout.annotations or []]
    names = [t.name for t in fig.data]
    assert not any("steady gap" in t or "plateau" in t for t in texts)
    assert any("steady gap" in n for n in names) and any("plateau" in n for n in names)


def test_a_line_chart_with_one_point_says_so():
    fig = charts.drift_figure({"curve": [0.3], "alpha": 0.5, "eps": 0.1, "regime": "stable"})
    assert any("only 1 point measured" in a.text for a in fig.layout.annotations)
    fig2 = charts.drift_figure({"curve": [0.3, 0.4, 0.45], "alpha": 0.5, "eps": 0.1, "regime": "stable"})
    assert not any("point measured" in (a.text or "") for a in fig2.layout.annotations or [])


OKABE_ITO = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#f0e442", "#000000"}


def test_palette_is_colour_blind_safe_and_the_charts_use_it():
    assert {c.lower() for c in charts.PALETTE[:6]} <= OKABE_ITO
    assert {charts.STATUS_COLOURS["kept"].lower(), charts.STATUS_COLOURS["finished"].lower(),
            charts.WINNER.lower(), charts.CHOSEN.lower()} <= OKABE_ITO
    fig = charts.compare_figure({"greedy": make_greedy_trace(), "beam": make_beam_trace()})
    assert [t.line.color for t in fig.data[::2]] == charts.PALETTE[:2]
    for name in ("dark", "high-contrast"):
        # two lighter / moved colours on black, chosen by their CVD distances (tests/test_colour_roles.py)
        assert {c.lower() for c in style_mod.THEMES[name].palette[:5]} <= OKABE_ITO | {"#00c896", "#7755ff"}


@pytest.mark.parametrize("name", ["light", "dark", "high-contrast"])
def test_themes_have_explicit_colours_and_every_builder_reads_them(name):
    style_mod.set_theme(name)
    try:
        assert charts.current_theme() == name
        th = style_mod.THEMES[name]
        for fname, fig in _every_figure().items():
            lay = fig.layout
            assert lay.paper_bgcolor == th.bg and lay.plot_bgcolor == th.bg, fname    # never transparent
            assert lay.font.color == th.ink, fname
            if name != "light":
                dumped = json.dumps(fig.to_dict()["data"]).lower()
                assert charts.PALETTE[0].lower() not in dumped, fname                  # light blue mapped
        spec = charts.attention_heatmap(make_greedy_trace(), "cross").to_dict()
        assert spec["config"]["background"] == th.bg and spec["config"]["axis"]["labelColor"] == th.ink
    finally:
        style_mod.set_theme("light")
    assert style_mod.set_theme("no-such-theme") == "light"


def test_a_chart_as_wide_as_the_page_breaks_its_title_at_the_page_width():
    """Titles break at the width the chart gets: the main column for a chart that spans it (the default),
    half of it for one of two side by side (wide=False). All broke at the half: presented, a full-width chart
    titled "compare · first divergence at step 0 (dashed)" took two lines and the lab's experiments up to
    eight, each taken from the chart's height."""
    def lines(fig):
        return (fig.layout.title.text or "").count("<br>") + 1
    figs = _every_figure()
    for present in (False, True):
        for name, f in figs.items():
            narrow, wide = lines(charts.finish(f, presenting=present, wide=False)), lines(charts.finish(f, presenting=present))
            assert wide <= narrow, (name, present)
    f = figs["compare"]
    assert lines(charts.finish(f, presenting=True, wide=False)) == 2 and lines(charts.finish(f, presenting=True)) == 1
    assert charts.finish(f, presenting=True, wide=False).layout.meta["seqscope"]["done"][2] is False  # per width
    many = {n: lines(charts.finish(f, presenting=True, wide=False)) - lines(charts.finish(f, presenting=True))
            for n, f in figs.items() if n.startswith(("label-smoothing", "tbptt", "bpe-vocab", "recovery"))}
    assert sum(many.values()) >= 10, many


@pytest.mark.parametrize("present", [False, True])
def test_altair_charts_get_the_minimum_font_sizes(present):
    floor = charts.MIN_PX[present]
    tr = make_greedy_trace()
    for chart in (charts.attention_heatmap(tr, "cross"), charts.attention_grid(tr, "cross")):
        cfg = charts.alt_finish(chart, presenting=present).to_dict()["config"]
        for key in ("axis", "legend", "header"):
            sizes = [v for k, v in cfg[key].items() if k.endswith("FontSize")]
            assert sizes and min(sizes) >= floor, (key, sizes)
        assert "labelFontSize" not in json.dumps({k: v for k, v in chart.to_dict().items() if k != "config"})
        # labels that would overlap are left out (presented, text-gpt's 43 rows fitted to 720 px ran together;
        # a canvas, so the browser test cannot see it): no axis turns it off
        assert cfg["axis"]["labelOverlap"] == "greedy"
        assert "labelOverlap" not in json.dumps({k: v for k, v in chart.to_dict().items() if k != "config"})


def test_attention_grid_pages_a_deep_model_by_layer():
    tr = make_greedy_trace()
    for st_ in tr["steps"]:
        h = st_["hypotheses"][0]
        h["cross_attn"] = [h["cross_attn"][0]] * 12               # 12 layers x 2 heads
    tr["model"]["n_layers"] = 12
    vals = lambda page: {v["l"] for v in charts.attention_grid(tr, "cross", layer_page=page).to_dict()["data"]["values"]}
    assert vals(0) == {0, 1, 2, 3} and vals(2) == {8, 9, 10, 11} and vals(99) == {8, 9, 10, 11}
    assert {v["l"] for v in charts.attention_grid(tr, "cross").to_dict()["data"]["values"]} == set(range(12))


def _beam_trace_wide(n_steps=40, k=8):
    """A synthetic beam search graph: k kept nodes per step, each with one pruned sibling."""
    nodes, nid = [{"id": 0, "parent": None, "step": -1, "token": "<bos>", "token_id": 1, "status": "kept",
                   "logprob": 0.0, "cum_logprob": 0.0, "score": 0.0}], 1
    parents = [0]
    for t in range(n_steps):
        new = []
        for j in range(2 * k):
            par = parents[j % len(parents)]
            st_ = "kept" if j < k else "pruned"
            nodes.append({"id": nid, "parent": par, "step": t, "token": f" token{j}", "token_id": 10 + j,
                          "status": st_ if t < n_steps - 1 or j >= k else "finished", "logprob": -0.1 * j,
                          "cum_logprob": -0.1 * j * (t + 1), "score": -0.1 * j})
            if j < k:
                new.append(nid)
            nid += 1
        parents = new
    return nodes, parents


def test_beam_labels_fit_without_running_together_or_leaving_the_plot():
    from dashboard.charts import beam as beam_mod
    nodes_l, last = _beam_trace_wide()
    nodes = {n["id"]: n for n in nodes_l}
    tr = {"beam": {"nodes": nodes_l, "num_beams": 8}}
    pos = {i: (x - 1, y) for i, (x, y) in view.beam_layout(tr).items()}
    max_y = max(abs(y) for _, y in pos.values())
    win = {0}
    n = last[0]
    while n is not None:
        win.add(n)
        n = nodes[n]["parent"]
    x_range, y_range = (-1.5, 40 + 1.5), (-max_y - 0.6, max_y + 0.9)
    chosen = beam_mod.fitting_labels(pos, nodes, win, height_px=800, x_range=x_range, y_range=y_range)
    assert 0 < len(chosen) < len([i for i in pos if nodes[i]["status"] != "pruned"])   # some, not all
    # recompute the boxes the same way and check no two overlap and all stay inside the plot
    sx = beam_mod.PLOT_WIDTH_PX / (x_range[1] - x_range[0])
    font = style_mod.SIZES[True]["data"]
    boxes = []
    for i in chosen:
        cx = (pos[i][0] - x_range[0]) * sx
        w = len(view.token_label(nodes[i]["token"])) * beam_mod.CHAR_EM * font
        assert cx + w <= beam_mod.PLOT_WIDTH_PX + 1 or i in win
        boxes.append((i, cx))
    by_row = {}
    for i, cx in boxes:
        if i not in win:
            by_row.setdefault(pos[i][1], []).append((cx, cx + 9 + len(view.token_label(nodes[i]["token"])) * beam_mod.CHAR_EM * font))
    for spans in by_row.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_beam_tree_winner_labels_sit_above_the_red_line_and_zoom_is_on():
    tr = make_beam_trace()
    fig = charts.beam_tree_figure(tr)
    labels = [a for a in fig.layout.annotations if a.name == "winner-label"]
    assert labels and all(a.yanchor == "bottom" and a.yshift > 0 and a.bgcolor for a in labels)
    winners = set(view.winner_path(tr))
    text_traces = [t for t in fig.data if t.mode and "text" in t.mode]
    assert all(not txt for t in text_traces for txt, x, y in zip(t.text, t.x, t.y)
               if any(abs(x - a.x) < 1e-9 and abs(y - a.y) < 1e-9 for a in labels))
    assert len(labels) <= len(winners)
    assert fig.layout.dragmode == "zoom" and not fig.layout.xaxis.fixedrange
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.yref == "container"


def test_token_probability_colours_are_colour_blind_safe_and_have_a_key():
    from dashboard.charts.tokens import prob_colour
    lo, mid, hi = (tuple(int(v) for v in prob_colour(p)[4:-1].split(",")) for p in (0.0, 0.5, 1.0))
    assert lo[2] < 60 and hi[2] > 200               # orange -> blue: the blue-yellow axis every deficiency keeps
    assert lo[0] > 200 and hi[0] < 120 and mid == (238, 232, 213)
    assert prob_colour(0.0) != "rgb(230,80,90)"     # not the old red
    key = charts.prob_key_html()
    assert "token probability" in key and "not recorded" in key and "linear-gradient" in key
    assert all(f">{t:g}<" in key for t in (0, 0.5, 1))
    assert "font-size:12px" in charts.prob_key_html(font_size=9)   # never under the minimum


def test_step_chart_in_presentation_mode_shows_the_rows_a_720px_screen_fits():
    from dashboard.charts import step as step_mod
    entry = {"top_before": [{"id": i, "token": f"t{i}", "prob": 0.5 / (i + 1)} for i in range(20)],
             "top_after": [{"id": i, "token": f"t{i}", "prob": 0.5 / (i + 1)} for i in range(20)],
             "entropy": 1.0, "entropy_raw": 1.2}
    assert len(charts.step_figure(entry, 17).data[0].y) == 20
    style_mod.set_presenting(True)
    try:
        fig = charts.step_figure(entry, 17)
    finally:
        style_mod.set_presenting(False)
    ys = list(fig.data[0].y)
    assert len(ys) == step_mod.PRESENT_ROWS and ys[-1].startswith("t17")     # the chosen row kept
    assert f"top {step_mod.PRESENT_ROWS} of 20 shown" in fig.layout.xaxis.title.text


def test_finish_again_for_the_same_mode_changes_nothing_and_a_new_mode_restyles():
    """display.plot re-finishes every figure for the page's mode: for the mode it was styled in that is a
    no-op (it was half of the home page's styling time); presenting restyles it; an added trace too."""
    import plotly.graph_objects as go
    import importlib
    style = importlib.import_module("dashboard.charts.style")
    fig = style.finish(go.Figure(go.Scatter(x=[0, 1], y=[1, 2], name="a"), layout=dict(title="t")), presenting=False,
                       theme_name="light")
    before = fig.to_dict()
    assert style.finish(fig, presenting=False, theme_name="light").to_dict() == before
    big = style.finish(fig, presenting=True, theme_name="light")
    assert big.layout.font.size > before["layout"]["font"]["size"]
    fig2 = style.finish(go.Figure(go.Scatter(x=[0, 1], y=[1, 2], name="a")), presenting=False, theme_name="light")
    fig2.add_trace(go.Scatter(x=[0], y=[0], name="b"))
    fig2.data[1].textfont = None
    again = style.finish(fig2, presenting=False, theme_name="light")
    assert again.layout.showlegend                     # two named traces now: restyled, legend shown
