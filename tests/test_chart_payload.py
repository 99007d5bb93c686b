"""Issue 12: on a big vocabulary and many heads every chart payload stays <= 2 MB.

A random GPT-2-shaped model with GPT-2's vocabulary (50,257) and 12 layers x 12 heads (narrow, so it
builds in a second: bench/hf.py's builder), beam 4 x 64 new tokens with full recording (top-20 lists,
attention of every layer and head, hidden states); then every chart the pages draw of that trace, as
the pages draw it (the attention grid a page of layers at a time, the step chart of the last step, the
beam tree whole), and the TF vs FR chart of a 64-token reference. The payload is what Streamlit sends
the browser: the figure's JSON (Plotly), or the Vega-Lite spec's JSON plus its inline data as Arrow
bytes (Altair).
"""
import json
import sys
from pathlib import Path

import pytest
import torch

import engine
from dashboard import charts

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import hf as bench_hf  # noqa: E402

LIMIT = 2_000_000        # bytes: issue 12's "every chart payload <= 2 MB"
SHAPE = {"vocab": 50257, "n_embd": 48, "n_layer": 12, "n_head": 12, "n_positions": 160}


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    torch.manual_seed(0)
    folder = bench_hf.build(tmp_path_factory.mktemp("hf") / "gpt2-wide-vocab", SHAPE)
    bundle = engine.load("hf:" + str(folder))
    prompt = "The default value of the argument is"
    tr = engine.generate(bundle, prompt, {"num_beams": 4, "max_new_tokens": 64, "min_new_tokens": 64}).to_dict()
    ref = list(tr["hypotheses"][0]["token_ids"])[:64]      # ids: the synthetic pieces are never produced by encode
    cmp = engine.compare_tf_fr(bundle, prompt, ref, {"max_new_tokens": 64}).to_dict()
    return tr, cmp


def _size(chart) -> int:
    """What Streamlit sends: a Plotly figure's JSON; for Altair the Vega-Lite spec's JSON with its inline
    data moved out and sent as Arrow bytes (streamlit/elements/vega_charts.py)."""
    from streamlit import dataframe_util
    if hasattr(chart, "to_json") and hasattr(chart, "layout"):          # Plotly
        return len(chart.to_json().encode())
    spec = chart.to_dict(validate=False)
    values = spec.pop("data")["values"]
    return len(json.dumps(spec).encode()) + len(dataframe_util.convert_anything_to_arrow_bytes(values))


def test_every_chart_of_a_gpt2_sized_trace_is_under_2_mb(big):
    tr, cmp = big
    n_layers, n_heads = charts.attention_shape(tr, "self")
    assert (n_layers, n_heads) == (12, 12) and len(tr["steps"]) == 64
    last = tr["steps"][-1]
    entry = last["hypotheses"][0]
    built = {
        "compare": charts.compare_figure({"beam 4": tr}),
        "step": charts.step_figure(entry, tr["hypotheses"][0]["token_ids"][-1], log=True),
        "attention heatmap, average of heads": charts.attention_heatmap(tr, "self", 11, "avg"),
        "attention heatmap, one head": charts.attention_heatmap(tr, "self", 0, 3),
        "attention entropy": charts.attention_entropy_figure(tr, "self"),
        "beam tree": charts.beam_tree_figure(tr),
        "TF vs FR": charts.tffr_figure(cmp),
    }
    for page in range(-(-n_layers // charts.GRID_LAYERS_PER_PAGE)):
        built[f"attention grid, layers page {page}"] = charts.attention_grid(tr, "self", layer_page=page)
    sizes = {name: _size(c) for name, c in built.items()}
    print({k: f"{v / 1e6:.2f} MB" for k, v in sizes.items()})
    assert all(sizes.values())
    over = {k: v for k, v in sizes.items() if v > LIMIT}
    assert not over, f"chart payloads over 2 MB: {over}"
