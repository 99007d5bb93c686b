"""Fuzz target "traces": the trace fixtures (tests/fixtures/traces, and the two traces inside the
TF/FR comparison) mutated — field values and types, deleted and added keys, duplicated list items,
beam graphs with repeated ids, missing parents and cycles, nesting, NaN / Infinity literals, huge
integers, ragged or resized matrices (attention, MBR, hidden states), truncated or non-UTF-8
text — and read with engine.load_trace from bytes, a string or a file.

Property: load_trace raises engine.TraceError (one line), or returns a trace that saves and reads
back unchanged and that every chart builder that applies renders without an exception: the compare
chart and token colours, the step chart of every step of every hypothesis, the attention heatmaps,
grid and entropy, the encoder heatmap, the beam tree at several reveal steps, the MBR matrix, and
dashboard.report.comparison_report. Within 20 s and 1 GB of memory (a loop over a beam graph with a
repeated id once ran until the server had no memory left).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

import engine
from dashboard import charts
from dashboard.report import comparison_report
from engine.trace import view
from fuzzkit import GB, KEEP_TYPES, cases, dumps, guard, mutate, one_line, tally, to_bytes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "traces"


def _seeds() -> dict:
    out = {}
    for p in sorted(FIXTURES.glob("*.json")):
        d = json.loads(p.read_text(encoding="utf-8"))
        if "format_version" in d:
            out[p.stem] = d
        else:                                         # a TF/FR comparison: its two traces
            out[p.stem + ".tf"], out[p.stem + ".fr"] = d["tf"], d["fr"]
    return out


SEEDS = _seeds()
BEAM_SEEDS = sorted(k for k, d in SEEDS.items() if d.get("beam"))


# -- mutations -------------------------------------------------------------------------------------

def _ids(doc) -> list:
    nodes = (doc.get("beam") or {}).get("nodes") if isinstance(doc.get("beam"), dict) else None
    return [n.get("id") for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []


def beam_op(data, doc) -> None:
    """A beam-graph mutation: a repeated node or id, a parent that is missing, itself or a descendant,
    a hypothesis or step pointing at any node."""
    beam = doc.get("beam")
    nodes = beam.get("nodes") if isinstance(beam, dict) else None
    if not isinstance(nodes, list) or not nodes:
        return
    ids = _ids(doc) or [0]
    op = data.draw(st.sampled_from(["dup-node", "id-collide", "parent", "hyp-node", "step-node", "reorder"]),
                   label="beam op")
    i = data.draw(st.integers(0, len(nodes) - 1), label="node")
    ints = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
    missing = max(ints) + 7 if ints else 7
    target = data.draw(st.one_of(st.sampled_from(ids), st.sampled_from([None, -1, missing, 2 ** 63, True, "0", 0.5])),
                       label="id")
    n = nodes[i]
    if op == "dup-node":
        nodes.insert(data.draw(st.integers(0, len(nodes))), json.loads(json.dumps(n)))
    elif op == "id-collide" and isinstance(n, dict):
        n["id"] = target
    elif op == "parent" and isinstance(n, dict):
        n["parent"] = target
    elif op == "hyp-node" and isinstance(doc.get("hypotheses"), list) and doc["hypotheses"]:
        h = doc["hypotheses"][data.draw(st.integers(0, len(doc["hypotheses"]) - 1))]
        if isinstance(h, dict):
            h["node"] = target
    elif op == "step-node" and isinstance(doc.get("steps"), list) and doc["steps"]:
        s = doc["steps"][data.draw(st.integers(0, len(doc["steps"]) - 1))]
        if isinstance(s, dict) and isinstance(s.get("hypotheses"), list) and s["hypotheses"]:
            if isinstance(s["hypotheses"][0], dict):
                s["hypotheses"][0]["node"] = target
    elif op == "reorder":
        data.draw(st.randoms(use_true_random=False)).shuffle(nodes)
    tally(f"beam op: {op}")


def _matrices(doc) -> list:
    """Every list whose items are all lists (attention matrices, MBR matrix, hidden states, ...)."""
    out, stack = [], [doc]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            if v and all(isinstance(x, list) for x in v):
                out.append(v)
            stack.extend(x for x in v if isinstance(x, (list, dict)))
    return out


def shape_op(data, doc) -> None:
    """A matrix made ragged or resized: a row loses or gains an item, a row is dropped or added."""
    mats = _matrices(doc)
    if not mats:
        return
    m = mats[data.draw(st.integers(0, len(mats) - 1), label="matrix")]
    row = m[data.draw(st.integers(0, len(m) - 1), label="row")]
    op = data.draw(st.sampled_from(["shorter row", "longer row", "drop row", "add row"]), label="shape op")
    if op == "shorter row" and row:
        row.pop()
    elif op == "longer row":
        row.append(json.loads(json.dumps(row[-1])) if row else 0.5)
    elif op == "drop row" and len(m) > 1:
        m.remove(row)
    elif op == "add row":
        m.append(json.loads(json.dumps(row)))
    tally(f"shape op: {op}")


def text_op(data, text: str):
    """A mutation of the file itself: truncated, a BOM, trailing bytes, another encoding."""
    op = data.draw(st.sampled_from(["none"] * 12 + ["truncate", "bom", "trailing", "utf16", "latin1-bytes"]),
                   label="text op")
    if op == "truncate":
        return text[:data.draw(st.integers(0, max(0, len(text) - 1)), label="cut")]
    if op == "bom":
        return "\ufeff" + text
    if op == "trailing":
        return text + data.draw(st.sampled_from(["x", "}", ",", " \n", "\x00", "{}", "[1]"]), label="trailing")
    if op == "utf16":
        return text.encode("utf-16")
    if op == "latin1-bytes":
        return to_bytes(text) + b"\xff\xfe"
    return text


class Shown(str):
    """The mutated JSON text, shown short in a failing case (the Draw lines say what was mutated)."""

    def __repr__(self) -> str:
        return f"<{len(self):,} characters of JSON>"


class ShownBytes(bytes):
    def __repr__(self) -> str:
        return f"<{len(self):,} bytes of JSON>"


def shown(src):
    return ShownBytes(src) if isinstance(src, bytes) else Shown(src)


@st.composite
def mutated_traces(draw, ops=KEEP_TYPES, file_ops: bool = True, max_ops: int = 3):
    """(seed name, the source given to load_trace: bytes, str or a file path, how it is given)."""
    data = draw(st.data())
    name = draw(st.one_of(st.sampled_from(sorted(SEEDS)), st.sampled_from(BEAM_SEEDS)), label="seed")
    doc = json.loads(json.dumps(SEEDS[name]))
    for _ in range(draw(st.integers(1, max_ops), label="mutations")):
        kind = draw(st.sampled_from(["beam", "shape", "document", "document", "document", "document"]),
                    label="mutation kind")
        if kind == "beam":
            beam_op(data, doc)
        elif kind == "shape":
            shape_op(data, doc)
        else:
            doc = mutate(data, doc, max_depth=9, ops=ops)
    text = dumps(doc, ascii_only=draw(st.booleans(), label="ascii"))
    if not file_ops:
        return name, shown(text), "str"
    src = text_op(data, text)
    form = draw(st.sampled_from(["bytes", "str", "file"]), label="form")
    return name, shown(src), form


# -- the property ----------------------------------------------------------------------------------

def render(tr) -> None:
    """Every chart builder that applies to the trace, as the pages and the report call them."""
    d = tr.to_dict()
    charts.compare_figure({"fuzz": d, "again": d})
    hyps = d.get("hypotheses") or []
    for h in range(min(max(1, len(hyps)), 4)):
        charts.tokens_html(charts.token_probs(d, h))
        for r in charts.hypothesis_steps(d, h)[:64]:
            charts.step_rows(r["entry"], r["token_id"])
            charts.step_figure(r["entry"], r["token_id"], log=bool(h % 2), title=f"step: {r['token']!r}")
        for kind in ("cross", "self"):
            if charts.has_attention(d, kind):
                n_layers, n_heads = charts.attention_shape(d, kind)
                for layer in sorted({0, max(0, n_layers - 1)}):
                    for head in ("avg", 0, max(0, n_heads - 1)):
                        charts.attention_heatmap(d, kind, layer, head, h).to_dict(validate=False)
                charts.attention_grid(d, kind, h, max_layers=2).to_dict(validate=False)
                charts.attention_entropy_figure(d, kind, h)
    enc = d.get("encoder_attention")
    if enc:
        charts.encoder_attention_heatmap(d, 0, "avg").to_dict(validate=False)
        charts.encoder_attention_heatmap(d, len(enc) - 1, 0).to_dict(validate=False)
    if d.get("beam"):
        last = max((n["step"] for n in d["beam"]["nodes"]), default=0)
        for upto in sorted({None, 0, 1, last}, key=lambda x: -1 if x is None else x):
            charts.beam_counts(d, upto)
            charts.beam_tree_figure(d, upto, hyp=min(1, max(0, len(hyps) - 1)), show_pruned=upto != 1)
    if d.get("mbr"):
        charts.mbr_figure(d)
    view.first_divergence({"a": d, "b": d})
    view.injected_step(d)
    comparison_report({"fuzz </script>": d, "again": tr})


def _repeated_beam_id() -> tuple:
    """Issue 10, item 1: beam nodes (0, None), (1, 0), (0, 1), hypothesis node 1 (the step inspector
    looped until the server had no memory left)."""
    d = json.loads(json.dumps(SEEDS["dates-gru-attn_beam"]))
    n0, n1 = d["beam"]["nodes"][0], d["beam"]["nodes"][1]
    d["beam"]["nodes"] = [n0, n1, {**n1, "id": 0, "parent": 1, "step": 1}]
    d["hypotheses"][0]["node"] = 1
    return "dates-gru-attn_beam", json.dumps(d), "str"


@given(case=mutated_traces())
@cases(ci=80, long=2500)
@example(case=_repeated_beam_id())
def test_mutated_trace(case):
    name, src, form = case
    with tempfile.TemporaryDirectory(prefix="fuzz-trace-") as tmp:
        if form == "file":
            path = Path(tmp) / "trace.json"
            path.write_bytes(src if isinstance(src, bytes) else to_bytes(src))
            src = str(path)
        elif form == "bytes" and isinstance(src, str):
            src = to_bytes(src)
        elif form == "str" and isinstance(src, bytes):
            src = src.decode("utf-8", "surrogateescape")
        with guard(20, GB):
            try:
                tr = engine.load_trace(src)
            except engine.TraceError as exc:
                assert one_line(str(exc)), f"TraceError is not one line: {str(exc)[:1500]!r}"
                tally("refused")
                return
            tally("accepted")
            again = engine.load_trace(tr.to_json())       # what load_trace accepts, save() writes back
            assert again.to_dict() == tr.to_dict(), "the trace changed when saved and read back"
            render(tr)


# -- the pages that show an uploaded trace ----------------------------------------------------------

PAGES = {"views/step.py": {"run": "uploaded trace"}, "views/attention.py": {"run": "uploaded trace"},
         "views/beam.py": {}, "views/traces.py": {}}


@given(case=mutated_traces(ops=("same_type", "same_type", "same_type", "tweak", "duplicate", "delete"),
                           file_ops=False, max_ops=1),
       page=st.sampled_from(sorted(PAGES)), step=st.integers(0, 40), hyp=st.integers(0, 3))
@cases(ci=12, long=300)
def test_uploaded_trace_on_the_pages(one_torch_thread, case, page, step, hyp):
    """A mutated trace that load_trace accepts, as the uploaded trace of a session, on every page that
    shows one: no exception, no error logged (the page's own guard logs every unexpected exception)."""
    from streamlit.testing.v1 import AppTest

    from pagecheck import APP, TIMEOUT, check_page
    name, text, _ = case
    try:
        tr = engine.load_trace(text)
    except engine.TraceError:
        tally("refused")
        return
    tally(f"accepted, on {page}")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["uploaded_trace"] = tr.to_dict()
    at.session_state["beam_src"] = "uploaded trace"
    for k, v in {**PAGES[page], "step": str(step), "hyp": str(hyp), "bhyp": str(hyp)}.items():
        at.query_params[k] = v
    at.switch_page(page)
    check_page(at, f"{page} with the uploaded {name} (mutated)")
