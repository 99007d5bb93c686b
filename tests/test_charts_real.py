"""Every chart builder on real traces: every preset on every shipped model (short outputs)."""
import json

import pytest

import engine
from dashboard import charts
from dashboard.report import comparison_report
from engine import PRESETS
from engine.trace import view

MODELS = ["dates-gru-attn", "dates-gru-noattn", "dates-transformer", "addition-gru", "text-gpt", "hmm-gpt"]
INPUTS = {"dates-gru-attn": "Wed 3 Mar 21", "dates-gru-noattn": "Wed 3 Mar 21", "dates-transformer": "Wed 3 Mar 21",
          "addition-gru": "48213+9375", "text-gpt": "A function is", "hmm-gpt": "pobpslsl"}


@pytest.fixture(scope="module")
def bundles():
    return {m: engine.load(m) for m in MODELS}


@pytest.mark.parametrize("model", MODELS)
def test_every_preset_renders_on_every_model(bundles, model):
    b = bundles[model]
    traces = {}
    for name, preset in PRESETS.items():
        cfg = dict(preset, max_new_tokens=6)
        if cfg.get("mbr"):
            cfg["mbr_num_samples"] = 4
        tr = engine.generate(b, INPUTS[model], engine.GenerationConfig.from_dict(cfg),
                             record=engine.RecordOptions(top_k=5)).to_dict()
        json.dumps(tr)
        traces[name] = tr
        rows = charts.hypothesis_steps(tr)
        assert len(rows) == min(len(tr["hypotheses"][0]["token_ids"]), len(tr["steps"])), name
        # the step record along the best hypothesis chose (or, for beams, led to) its token
        for r in rows:
            e = r["entry"]
            assert e.get("token_id") in (None, r["token_id"]), (name, r["step"])
            assert list(e["prefix_ids"]) == tr["hypotheses"][0]["token_ids"][:r["step"]] or tr["strategy"] == "mbr"
        fig = charts.step_figure(rows[0]["entry"], rows[0]["token_id"])
        assert len(fig.data[0].x) >= 1
        for kind in ("cross", "self"):
            if charts.has_attention(tr, kind):
                labels, cols, mat = view.attention_matrix(tr, kind, 0, "avg")
                assert len(labels) == len(rows) and all(len(r) == len(cols) for r in mat)
                for row in mat:   # attention weights of one query sum to 1 (each recorded to 3 decimals: ± 0.0005)
                    assert sum(w for w in row if w is not None) == pytest.approx(1.0, abs=5e-4 * len(row) + 1e-9)
                charts.attention_heatmap(tr, kind, 0, 0).to_dict(validate=False)
                charts.attention_entropy_figure(tr, kind)
        if tr.get("beam"):
            fig = charts.beam_tree_figure(tr)
            counts = charts.beam_counts(tr)
            assert sum(counts.values()) == len(tr["beam"]["nodes"]) - 1
            assert view.winner_path(tr)[0] == 0
        if tr.get("mbr"):
            assert charts.mbr_figure(tr) is not None
    fig = charts.compare_figure(traces)
    assert len([t for t in fig.data if t.yaxis == "y"]) == len(PRESETS)
    assert "<!DOCTYPE html>" in comparison_report(traces)
    kind = "cross" if b.kind == "seq2seq" else "self"
    if charts.has_attention(traces["greedy"], kind):
        spec = charts.attention_grid(traces["greedy"], kind).to_dict()  # validated once
        # the grid's cells (compact rows that Vega-Lite flattens) are the weights attention_matrix gives
        from test_charts import grid_cells
        cells = {(c["l"], c["h"], c["r"], c["k"]): c["w"] for c in grid_cells(spec)}
        n_layers, n_heads = charts.attention_shape(traces["greedy"], kind)
        want = {}
        for layer in range(n_layers):
            for head in range(n_heads):
                mat = view.attention_matrix(traces["greedy"], kind, layer, head)[2]
                want.update({(layer, head, i, j): w for i, row in enumerate(mat) for j, w in enumerate(row)
                             if w is not None})
        assert cells.keys() == want.keys() and all(cells[k] == pytest.approx(want[k], abs=5e-4) for k in want)


def test_tffr_figure_on_real_comparison(bundles):
    cmp = engine.compare_tf_fr(bundles["dates-gru-attn"], "Wed 3 Mar 21", "2021-03-03").to_dict()
    fig = charts.tffr_figure(cmp)
    assert list(fig.data[0].y) == [r["tf_logprob"] for r in cmp["rows"]]
    hit = engine.compare_tf_fr(bundles["dates-gru-attn"], "Wed 3 Mar 21", "2021-03-03",
                               forced_tokens={3: "9"}).to_dict()
    assert hit["rows"][3]["fr_token"] == "9" and hit["first_divergence"] == 3
    fig = charts.recovery_figure(cmp, hit, 3)
    assert list(fig.data[1].y) == [r["fr_logprob"] for r in hit["rows"]]


@pytest.mark.parametrize("beams", [4, 8])
def test_beam_tree_labels_the_whole_winning_path_in_both_modes(bundles, beams):
    """The highlighted path runs along the top row and its labels sit above its nodes: the plot keeps
    room for them. Before, 8 beams in presentation mode labelled 1 of the 12 nodes (only <bos>)."""
    import importlib
    style = importlib.import_module("dashboard.charts.style")
    tr = engine.generate(bundles["dates-gru-attn"], "3rd of March 2021", {"num_beams": beams, "max_new_tokens": 24}).to_dict()
    win = view.winner_path(tr, 0)
    for presenting in (False, True):
        style.set_presenting(presenting)
        try:
            fig = charts.beam_tree_figure(tr)
        finally:
            style.set_presenting(False)
        labels = [a for a in fig.layout.annotations if a.name == "winner-label"]
        assert len(labels) == len(win), (presenting, len(labels), len(win))
        assert max(a.y for a in labels) < fig.layout.yaxis.range[1]
