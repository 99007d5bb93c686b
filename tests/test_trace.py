"""engine.trace: torch-free import, the saved fixtures of format version 1, the constructors, the one
validator (every refusal names the field), load_trace's limits, and the view queries."""
from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import engine
from engine.trace import (FORMAT_VERSION, MAX_TRACE_BYTES, NODE_STATUS, STRATEGIES, Trace, TraceError, load_trace,
                          schema, validate, view)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "traces").glob("*.json"))


def fixture_traces() -> list[tuple[str, dict]]:
    """(name, trace dict) of every saved trace; the TF/FR comparison holds two, under "tf" and "fr"."""
    out = []
    for f in FIXTURES:
        d = json.loads(f.read_text())
        if "tf" in d and "fr" in d:
            out += [(f"{f.stem}:tf", d["tf"]), (f"{f.stem}:fr", d["fr"])]
        else:
            out.append((f.stem, d))
    return out


def fixture(stem: str) -> dict:
    return json.loads((ROOT / "tests" / "fixtures" / "traces" / f"{stem}.json").read_text())


def refused(d: dict, match: str) -> str:
    with pytest.raises(TraceError, match=match) as info:
        validate(d)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("trace: ")
    return msg


# -- import, fixtures, round trip --------------------------------------------------------------

def test_import_is_torch_free():
    code = ("import sys, engine, engine.trace\n"
            "from engine.trace import view, load_trace\n"
            "t = engine.load_trace(sys.argv[1]); engine.Trace; engine.TraceError; engine.FORMAT_VERSION\n"
            "view.hypothesis_steps(t); view.beam_layout(t); view.attention_matrix(t, 'cross')\n"
            "heavy = [m for m in ('torch', 'streamlit', 'plotly', 'altair') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    r = subprocess.run([sys.executable, "-c", code, str(FIXTURES[1])], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_face_and_constants():
    assert engine.Trace is Trace and engine.TraceError is TraceError and engine.load_trace is load_trace
    assert engine.FORMAT_VERSION == FORMAT_VERSION == 2
    assert "teacher_forced" in STRATEGIES and NODE_STATUS == ("kept", "finished", "pruned")
    assert MAX_TRACE_BYTES == 50 * 1024 * 1024 and issubclass(TraceError, ValueError)


def test_fixtures_exist():
    names = {f.stem for f in FIXTURES}
    assert len(names) >= 10 and "dates-gru-attn_tffr_comparison" in names


@pytest.mark.parametrize("name,d", fixture_traces(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_saved_trace_loads_and_validates(name, d):
    """Format-1 files (the fixtures) load as format 2: attention rounded to thousandths, the rest as is;
    the loaded trace saves and reads back unchanged."""
    validate(d)
    t = load_trace(json.dumps(d))
    got = t.to_dict()
    assert got["format_version"] == 2 and t.strategy == d["strategy"]
    attn = ("self_attn", "cross_attn")

    def strip(x):
        x = {**x, "format_version": 0, "encoder_attention": None}
        x["steps"] = [{**st, "hypotheses": [{k: v for k, v in h.items() if k not in attn} for h in st["hypotheses"]]}
                      for st in x["steps"]]
        return x
    assert strip(got) == strip(d)                                   # nothing but attention changes
    for a, b in zip(_numbers(got), _numbers(d), strict=True):      # ... and that by at most half a thousandth
        assert abs(a - b) <= 5e-4 + 1e-12 and round(a * 1000) == a * 1000
    assert load_trace(t.to_json()).to_dict() == got
    assert load_trace(t.to_json()).to_json() == t.to_json()


def _numbers(d):
    blocks = [d["encoder_attention"]] + [h[k] for st in d["steps"] for h in st["hypotheses"]
                                         for k in ("self_attn", "cross_attn")]
    out = []

    def walk(x):
        if isinstance(x, list):
            for v in x:
                walk(v)
        elif x is not None:
            out.append(float(x))
    walk(blocks)
    return out


def test_saved_attention_is_integer_thousandths():
    """A saved trace holds attention weights as integers in thousandths (format 2): a GPT-2-shaped
    beam-4 x 64-token trace is half the size; loading gives the weights back exactly."""
    d = fixture("dates-transformer_diverse_beam") if (ROOT / "tests/fixtures/traces/dates-transformer_diverse_beam.json").exists() \
        else fixture("dates-gru-attn_greedy")
    t = load_trace(json.dumps(d))
    on_disk = json.loads(t.to_json())
    assert on_disk["format_version"] == 2
    ws = [w for st in on_disk["steps"] for h in st["hypotheses"] for k in ("self_attn", "cross_attn") if h[k]
          for layer in h[k] for head in layer for w in head]
    assert ws and all(type(w) is int and 0 <= w <= 1000 for w in ws)
    assert load_trace(t.to_json()) == t
    bad = json.loads(t.to_json())
    h = next(h for st in bad["steps"] for h in st["hypotheses"] if h["cross_attn"] or h["self_attn"])
    k = "cross_attn" if h["cross_attn"] else "self_attn"
    h[k][0][0][0] = 1001                                            # over a thousand thousandths
    with pytest.raises(TraceError, match=k):
        load_trace(json.dumps(bad))


def test_float_weights_in_a_format_2_file_read_back_unchanged_after_a_save():
    """Format 2 saves weights as thousandths; a format-2 file with float weights of 4 decimals (a
    format-1 file relabelled) loaded them as they were, and the next save rounded them: the trace read
    back differed (the long fuzz profile found it). They are read at 3 decimals now."""
    d = fixture("dates-gru-attn_greedy")
    assert d["format_version"] == 1
    d["format_version"] = 2
    t = load_trace(json.dumps(d))
    assert load_trace(t.to_json()).to_dict() == t.to_dict()
    ws = [w for st in t.to_dict()["steps"] for h in st["hypotheses"] for k in ("self_attn", "cross_attn") if h[k]
          for layer in h[k] for head in layer for w in head]
    assert ws and all(w == round(w, 3) for w in ws)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_files_load(path):
    d = json.loads(path.read_text())
    if "tf" in d:                                 # a TF/FR comparison: two traces
        assert Trace.from_dict(d["tf"]).strategy == "teacher_forced" and Trace.from_dict(d["fr"]).steps
    else:
        assert load_trace(path).to_dict() == load_trace(json.dumps(d)).to_dict()
        assert load_trace(path.read_bytes()) == load_trace(path.read_text())


def test_round_trip(tmp_path):
    t = load_trace(FIXTURES[1])
    p = t.save(tmp_path / "sub" / "t.json")
    back = load_trace(p)
    assert back == t and back.to_json() == t.to_json()
    assert Trace.from_dict(json.loads(t.to_json(indent=1))) == t
    c = t.copy()
    assert c == t and c.to_dict() is not t.to_dict()
    assert t.text == t.hypotheses[0]["text"] and "steps" in t and t["strategy"] == t.strategy
    assert "Trace(model=" in repr(t)
    with pytest.raises(AttributeError):
        t.no_such_key
    assert not list(tmp_path.glob("sub/.*.tmp"))


def rebuild(d: dict) -> Trace:
    """A saved trace rebuilt through the constructors, section by section."""
    t = schema.new_trace(model=d["model"], config=d["config"], strategy=d["strategy"], seed=d["seed"],
                         input=d["input"], forced=d["forced"], rules=d["rules"], warnings=d["warnings"],
                         recording=d["recording"])
    t["timing"] = schema.timing_section(**d["timing"])
    t["encoder_attention"] = d["encoder_attention"]
    t["steps"] = [schema.step_entry(step=s["step"], hypotheses=[schema.step_hypothesis(**dict(
        e, top_before=[schema.top_entry(**x) for x in e["top_before"]],
        top_after=[schema.top_entry(**x) for x in e["top_after"]])) for e in s["hypotheses"]]) for s in d["steps"]]
    t["hypotheses"] = [schema.hypothesis(**h) for h in d["hypotheses"]]
    if d["beam"] is not None:
        t["beam"] = schema.beam_section(**dict(d["beam"], nodes=[schema.beam_node(**n) for n in d["beam"]["nodes"]]))
    if d["mbr"] is not None:
        t["mbr"] = schema.mbr_section(**d["mbr"])
    if "reference" in d:
        t["reference"] = schema.reference_section(**d["reference"])
    return schema.finish(t)


@pytest.mark.parametrize("name,d", fixture_traces(), ids=lambda x: x if isinstance(x, str) else "")
def test_constructors_build_todays_shapes(name, d):
    t = rebuild(d)
    assert isinstance(t, Trace)
    assert json.dumps(t.to_dict()) == json.dumps({**d, "format_version": FORMAT_VERSION})   # same keys, same order


def test_constructor_details():
    sk = schema.new_trace(model={}, config={}, strategy="greedy", seed=None,
                          input={"text": "", "tokens": [], "token_ids": []},
                          forced={"prefix": [5, 6], "tokens": {0: 5, 1: 6, 4: 9, "3": 7}}, rules=[], warnings=[],
                          recording={})
    assert sk["forced"] == {"prefix": [5, 6], "tokens": {"3": 7, "4": 9}}
    assert view.injected_step(sk) == 3
    h = schema.hypothesis(text="", tokens=[], token_ids=[], token_logprobs=[], score=-1.0, normalized_score=-0.5,
                          finished=False)
    assert h["search_score"] == -0.5 and h["node"] is None
    with pytest.raises(TraceError, match="colour"):
        schema.hypothesis(text="", tokens=[], token_ids=[], token_logprobs=[], score=0.0, normalized_score=0.0,
                          finished=False, colour="red")
    with pytest.raises(TraceError, match="missing key model.name"):
        schema.finish(dict(fixture("dates-gru-attn_greedy"), model={}))


# -- the validator refuses, naming the field ---------------------------------------------------

def test_refuses_repeated_node_ids():
    d = fixture("dates-gru-attn_beam")
    d["beam"]["nodes"][3]["id"] = d["beam"]["nodes"][2]["id"]
    refused(d, r"beam\.nodes\[3\]\.id .* repeats beam\.nodes\[2\]\.id")


def test_refuses_a_parent_cycle():
    d = fixture("dates-gru-attn_beam")
    nodes = d["beam"]["nodes"]
    a = next(n for n in nodes if n["parent"] == 0)
    b = next(n for n in nodes if n["parent"] == a["id"])
    a["parent"] = b["id"]
    refused(d, r"beam\.nodes\[\d+\]\.parent: the parents of node \d+ form a cycle")


def test_refuses_a_missing_parent():
    d = fixture("dates-transformer_diverse_beam")
    d["beam"]["nodes"][5]["parent"] = 10 ** 6
    refused(d, r"beam\.nodes\[5\]\.parent 1000000 is not the id of a node")


def test_refuses_a_hypothesis_node_that_does_not_exist():
    d = fixture("dates-gru-attn_beam")
    d["hypotheses"][-1]["node"] = 10 ** 6
    refused(d, rf"hypotheses\[{len(d['hypotheses']) - 1}\]\.node 1000000 is not the id of a node")
    d = fixture("dates-gru-attn_greedy")
    d["steps"][2]["hypotheses"][0]["node"] = 0
    refused(d, r"steps\[2\]\.hypotheses\[0\]\.node 0 .*no beam graph")


def rec(d: dict, t: int) -> dict:
    """The first record of step t."""
    return d["steps"][t]["hypotheses"][0]


def at(t: int) -> str:
    return rf"steps\[{t}\]\.hypotheses\[0\]\."


@pytest.mark.parametrize("edit,match", [
    (lambda d: d["input"]["tokens"].__setitem__(0, 1), r"input\.tokens\[0\] must be a string, got 1"),
    (lambda d: rec(d, 1).__setitem__("prob", "high"), at(1) + "prob"),
    (lambda d: rec(d, 1).__setitem__("prob", 1.5), at(1) + r"prob .*\[0, 1\]"),
    (lambda d: rec(d, 0)["top_after"][2].__setitem__("id", "7"), at(0) + r"top_after\[2\]\.id"),
    (lambda d: rec(d, 0)["top_before"][0].pop("token"), "missing key " + at(0) + r"top_before\[0\]\.token"),
    (lambda d: rec(d, 2)["cross_attn"][0][0].__setitem__(1, [0.5]),
     at(2) + r"cross_attn\[0\]\[0\]\[1\] must be a finite number"),
    (lambda d: rec(d, 2).__setitem__("hidden", [0.5, -2, 3.0, None]), at(2) + r"hidden\[3\]"),
    (lambda d: rec(d, 2)["prefix_ids"].append(4), at(2) + "prefix_ids must be the 2 tokens"),
    (lambda d: rec(d, 2).__setitem__("colour", 1), at(2) + "colour is not a key"),
    (lambda d: d["steps"][2].__setitem__("step", 5), r"steps\[2\]\.step must be 2"),
    (lambda d: rec(d, 0).__setitem__("entropy", float("nan")), at(0) + "entropy"),
    (lambda d: rec(d, 0).__setitem__("slot", True), at(0) + "slot must be an integer"),
    (lambda d: d["model"].__setitem__("n_layers", False), r"model\.n_layers must be an integer"),
    (lambda d: d.__setitem__("seed", True), r"seed must be an integer"),
    (lambda d: d["recording"].__setitem__("top_k", 1), at(0) + "top_before must be at most"),
    (lambda d: d["config"].__setitem__("temperature", float("inf")), r"config\.temperature must be a finite number"),
    (lambda d: d["config"].__setitem__("x", {"y": 1}), r"config\.x must be a finite number"),
    (lambda d: d["forced"]["tokens"].__setitem__("one", 3), r"forced\.tokens must be keyed by steps"),
    (lambda d: d["timing"].__setitem__("total_s", -1), r"timing\.total_s must be a finite number >= 0"),
    (lambda d: d.__setitem__("strategy", "nucleus"), r"strategy must be one of greedy"),
    (lambda d: d.__setitem__("extra", 1), r"extra is not a key of the trace format"),
    (lambda d: d.pop("warnings"), r"missing key warnings"),
    (lambda d: d["hypotheses"][0]["token_logprobs"].__setitem__(0, 0.5),
     r"hypotheses\[0\]\.token_logprobs\[0\] .*<= 0"),
    (lambda d: d["hypotheses"][0].__setitem__("finished", 1), r"hypotheses\[0\]\.finished must be true or false"),
    (lambda d: d.__setitem__("format_version", True), r"format_version True is not supported"),
    (lambda d: d.__setitem__("reference", {"text": "", "token_ids": []}), r"reference is only for .*teacher_forced"),
])
def test_refuses_wrong_fields(edit, match):
    d = fixture("dates-gru-attn_greedy")
    edit(d)
    refused(d, match)


def test_refuses_wrong_sections():
    d = fixture("dates-gru-attn_beam")
    d["beam"]["nodes"][4]["status"] = "alive"
    refused(d, r"beam\.nodes\[4\]\.status must be one of kept, finished, pruned")
    d = fixture("dates-gru-attn_beam")
    d["beam"]["nodes"][4]["step"] += 1
    refused(d, r"beam\.nodes\[4\]\.step must be its parent's step \+ 1")
    d = fixture("dates-gru-attn_beam")
    d["beam"] = None
    refused(d, r"beam must be an object for strategy beam")
    d = fixture("text-gpt_mbr_nbest")
    d["mbr"]["matrix"][1].pop()
    refused(d, r"mbr\.matrix\[1\] must be a list of \d+ items")
    d = fixture("text-gpt_mbr_nbest")
    d["mbr"]["chosen"] = len(d["mbr"]["candidates"])
    refused(d, r"mbr\.chosen must be an integer from 0 to")
    d = fixture("dates-gru-attn_beam_reranked")
    d["hypotheses"][0]["candidate"] = 99
    refused(d, r"hypotheses\[0\]\.candidate")
    d = fixture("dates-gru-attn_teacher_forced")
    del d["reference"]
    refused(d, r"missing key reference")


def test_refuses_nan_and_infinity_literals():
    text = json.dumps(fixture("dates-gru-attn_greedy"))
    for literal in ("NaN", "Infinity", "-Infinity"):
        d = json.loads(text)
        d["steps"][1]["hypotheses"][0]["entropy"] = "@@"
        bad = json.dumps(d).replace('"@@"', literal)
        with pytest.raises(TraceError, match=rf"steps\[1\]\.hypotheses\[0\]\.entropy .*{literal}"):
            load_trace(bad)
        d = json.loads(text)
        d["input"]["text"] = "@@"
        with pytest.raises(TraceError, match=rf"input\.text must be a string, got the literal {literal}"):
            load_trace(json.dumps(d).replace('"@@"', literal).encode())


def test_refuses_deep_nesting():
    deep = "[" * 3000 + "]" * 3000
    d = fixture("dates-gru-attn_greedy")
    d["steps"][0]["hypotheses"][0]["hidden"] = "@@"
    with pytest.raises(TraceError, match=r"steps\[0\]\.hypotheses\[0\]\.hidden(\[0\])+ is nested deeper"):
        load_trace(json.dumps(d).replace('"@@"', deep))
    with pytest.raises(TraceError, match="the top level|nested deeper"):
        load_trace(("{\"a\":" * 3000) + "1" + "}" * 3000)
    nested: list = []
    for _ in range(3000):                      # built in Python, not parsed: the validator meets it
        nested = [nested]
    d = fixture("dates-gru-attn_greedy")
    d["steps"][0]["hypotheses"][0]["hidden"] = nested
    refused(d, r"steps\[0\]\.hypotheses\[0\]\.hidden\[0\] must be a finite number")
    d = fixture("dates-gru-attn_greedy")
    d["config"]["top_k"] = nested
    refused(d, r"config\.top_k must be a finite number")


def test_refuses_over_50_mb(tmp_path):
    big = b" " * (MAX_TRACE_BYTES + 1)
    with pytest.raises(TraceError, match="over the 50 MB limit"):
        load_trace(big)
    with pytest.raises(TraceError, match="over the 50 MB limit"):
        load_trace("{" + " " * MAX_TRACE_BYTES)
    f = tmp_path / "big.json"
    with open(f, "wb") as fh:
        fh.truncate(MAX_TRACE_BYTES + 1)       # sparse: the size is checked before reading
    with pytest.raises(TraceError, match=r"big\.json: .*over the 50 MB limit"):
        load_trace(f)


def test_load_trace_other_errors(tmp_path):
    with pytest.raises(TraceError, match="not valid JSON"):
        load_trace(b"{not json")
    with pytest.raises(TraceError, match="not UTF-8"):
        load_trace(b"{\xff}")
    with pytest.raises(TraceError, match="no such trace file"):
        load_trace(tmp_path / "missing.json")
    with pytest.raises(TraceError, match="needs a path"):
        load_trace(3)
    with pytest.raises(TraceError, match="format_version 3 is not supported .*reads versions 1, 2"):
        load_trace(json.dumps(dict(fixture("dates-gru-attn_greedy"), format_version=3)))
    f = tmp_path / "t.json"
    f.write_text(json.dumps(dict(fixture("dates-gru-attn_greedy"), seed="x")))
    with pytest.raises(TraceError, match=r"t\.json: trace: seed must be an integer"):
        load_trace(f)


# -- view ----------------------------------------------------------------------------------------

def test_view_accepts_trace_or_dict():
    d = fixture("dates-gru-attn_beam")
    t = Trace(copy.deepcopy(d))
    assert view.hypothesis_steps(t, 1) == view.hypothesis_steps(d, 1)
    assert view.beam_layout(t) == view.beam_layout(d) and view.beam_counts(t) == view.beam_counts(d)
    path = view.beam_path_nodes(d, 0)
    assert path[0] == 0 and path == view.node_path(d, d["hypotheses"][0]["node"]) == view.winner_path(t)
    assert [r["entry"]["node"] for r in view.hypothesis_steps(d, 0)] == path[:len(d["hypotheses"][0]["token_ids"])]
    assert view.node_path(d, 10 ** 6) == [] and view.node_path(fixture("dates-gru-attn_greedy"), 0) == []


def test_hypothesis_steps_terminates_on_a_malicious_graph():
    d = fixture("dates-gru-attn_beam")
    nodes = d["beam"]["nodes"]
    end = d["hypotheses"][0]["node"]
    for n in nodes:                             # every node its own parent's child, a cycle, repeated ids
        n["parent"] = end
    nodes.append(dict(nodes[3], id=end, parent=nodes[3]["id"]))
    old = signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("no termination")))
    signal.alarm(10)
    try:
        rows = view.hypothesis_steps(d, 0)
        assert len(rows) == len(d["hypotheses"][0]["token_ids"])
        assert len(view.beam_path_nodes(d, 0)) <= len(nodes)
        view.beam_layout(d)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    with pytest.raises(TraceError):
        validate(d)


def test_injected_step():
    assert view.injected_step(fixture("hmm-gpt_greedy_forced")) == 2
    cmp = fixture("dates-gru-attn_tffr_comparison")
    assert view.injected_step(cmp["fr"]) == 3 and view.injected_step(Trace(cmp["tf"])) is None
    assert view.injected_step(fixture("dates-gru-attn_greedy")) is None


def test_view_queries_on_saved_traces():
    d = fixture("dates-transformer_diverse_beam")
    assert view.has_attention(d, "cross") and view.has_attention(d, "self")
    layers, heads = view.attention_shape(d, "self")
    labels, cols, mat = view.attention_matrix(d, "self", layers - 1, "avg")
    assert len(labels) == len(mat) and all(len(r) == len(cols) for r in mat)
    assert set(view.attention_entropy(d, "cross")) == set(range(view.attention_shape(d, "cross")[0]))
    assert view.attention_shape(fixture("addition-gru_mbr_samples"), "self") == (0, 0)
    s = fixture("text-gpt_sample")
    rows = view.step_rows(s["steps"][0]["hypotheses"][0], s["hypotheses"][0]["token_ids"][0])
    assert sum(r["chosen"] for r in rows) <= 1 and all(r["after"] >= 0 for r in rows)
    probs = view.token_probs(s)
    assert len(probs) == len(s["hypotheses"][0]["tokens"]) and all(p is None or 0 <= p <= 1 for _, p in probs)
    assert view.lookup_prob([{"id": 3, "token": "a", "prob": 0.25}], 3) == 0.25
    assert view.first_divergence({"a": s, "b": s}) is None
    assert view.best_path_ids(s) == s["hypotheses"][0]["token_ids"] and view.best_path_ids(s, 99) == []
    assert view.token_label(" a ") == "␣a␣" and view.token_label("") == "∅"


def test_a_ragged_encoder_attention_is_refused():
    """encoder_attention[0][0][0] one weight shorter was accepted and broke encoder_attention_heatmap
    (IndexError; fuzz suite, docs/fuzzing.md #9); so was a layer with fewer heads."""
    import copy
    import json
    import engine
    from engine.trace import TraceError, validate
    t = engine.generate("dates-transformer", "3 march 2021", {"num_beams": 2})
    d = copy.deepcopy(t.to_dict())
    validate(d)
    short = copy.deepcopy(d)
    short["encoder_attention"][0][0][0].pop()
    with pytest.raises(TraceError, match=r"encoder_attention\[0\]\[0\] must be a \d+ x \d+ matrix"):
        validate(short)
    fewer = copy.deepcopy(d)
    fewer["encoder_attention"][1] = fewer["encoder_attention"][1][:1]
    with pytest.raises(TraceError, match="same number"):
        validate(fewer)
