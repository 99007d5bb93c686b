"""The lab's dataset analysis on your own data (issue 12): a JSONL or CSV of source/reference (or
prompt/continuation) pairs, read and checked row by row before any work (engine/exposure/user_data.py),
analysed for a shipped model and for tiny Hugging Face models built here (tests/hf_tiny.py): the
teacher-forced log-probabilities and free runs against transformers itself, left-padded prompts
against one row at a time; the CLI (`python -m engine exposure --data`) and the lab page's upload."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import engine
from engine.exposure import tf_fr_pass
from engine.exposure import user_data as ud
from engine.stats import wilson
from engine.exposure.user_data import DataError, analyze_data, parse_data, read_data, user_inputs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hf_tiny  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ADDITIONS = [(12, 34), (5, 7), (99, 1), (123, 456), (8, 80), (40, 2), (7, 700), (61, 19)]


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    """These tests run with one torch thread (see conftest.one_torch_thread)."""


def jsonl(rows) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


def additions(k: int = 40) -> list[dict]:
    return [{"source": f"{a}+{b}", "reference": str(a + b)} for a, b in (ADDITIONS * k)[:k]]


# -- the parser ------------------------------------------------------------------------------------

def test_good_jsonl_and_csv_with_both_column_pairs():
    d = parse_data(jsonl([{"source": "1+2", "reference": "3", "id": 7}, {}, {"source": "4+4", "reference": "8"}])
                   .replace(b"\n{}\n", b"\n\n"), "pairs.jsonl")
    assert (d.format, d.columns) == ("jsonl", ("source", "reference"))
    assert [(p.line, p.source, p.reference) for p in d.pairs] == [(1, "1+2", "3"), (3, "4+4", "8")]
    text = '\ufeffid,prompt,continuation\r\n1,"the cat, sat","on the\nmat"\r\n2,hello, world\r\n'
    d = parse_data(text.encode(), "lm.csv")
    assert (d.format, d.columns) == ("csv", ("prompt", "continuation"))
    assert [(p.line, p.source, p.reference) for p in d.pairs] == [(2, "the cat, sat", "on the\nmat"),
                                                                   (4, "hello", " world")]
    assert parse_data(b'{"prompt": "a", "continuation": "b"}', "upload").format == "jsonl"   # no ending: content
    assert parse_data(b"source,reference\na,b\n", "upload").format == "csv"


def test_column_names_match_in_any_case():
    """A spreadsheet's export says "Source,Reference": read, with the file's spelling shown."""
    d = parse_data(b"Source , REFERENCE\n1+2,3\n", "sheet.csv")
    assert d.columns == ("Source", "REFERENCE") and [(p.source, p.reference) for p in d.pairs] == [("1+2", "3")]
    d = parse_data(jsonl([{"Prompt": "a", "Continuation": "b"}, {"Prompt": "c", "Continuation": "d"}]), "x.jsonl")
    assert d.columns == ("Prompt", "Continuation") and [p.reference for p in d.pairs] == ["b", "d"]


BAD = [  # (file name, bytes, what the one line says)
    ("a.jsonl", b'{"source": "1", "reference": "2"}\n{"source": "3"}', "line 2: no 'reference' key"),
    ("a.jsonl", b'{"source": "1", "reference": "  "}', "line 1: 'reference' is empty"),
    ("a.jsonl", b'{"source": 1, "reference": "2"}', "line 1: 'source' is a number, not text"),
    ("a.jsonl", b'{"source": "1", "reference": null}', "line 1: 'reference' is a null, not text"),
    ("a.jsonl", b'{"source": ["1"], "reference": "2"}', "line 1: 'source' is a list, not text"),
    ("a.jsonl", b'{"source": "1", "reference": "2"}\n{"source": "\xff", "reference": "2"}', "line 2: not UTF-8"),
    ("a.csv", b"source,reference\n1,2\n3,\xe9\n", "line 3: not UTF-8"),
    ("a.csv", b"source,reference,source\n1,2,3\n", "line 1: the column 'source' appears twice"),
    ("a.jsonl", b'{"source": "1", "reference": "2", "source": "3"}', "line 1: the key 'source' appears twice"),
    ("a.jsonl", b'{"source": "1", "reference": "2"}\n{"source": "1",', "line 2: not valid JSON"),
    ("a.jsonl", b'["1", "2"]', "line 1: a JSON list, not an object"),
    ("a.jsonl", b'{"input": "1", "output": "2"}', "line 1: no source/reference or prompt/continuation columns"),
    ("a.csv", b"source,reference,prompt,continuation\n1,2,3,4\n", "line 1: both source/reference and prompt"),
    ("a.csv", b"source,reference\n1,2\n3,4,5\n", "line 3: 3 fields, the header has 2"),
    ("a.csv", b"source,reference\n1,\"2\x00\"\n", "line 2"),
    ("a.jsonl", b'{"source": "\\ud800", "reference": "2"}', "line 1: 'source' is not valid Unicode"),
    ("a.csv", b"source,reference\n", "no rows"),
    ("a.csv", b"source,Source,reference\n1,2,3\n", "line 1: 'source' and 'Source' are one column in two spellings"),
    ("a.jsonl", b'{"Source": "1", "reference": "2"}\n{"source": "3", "reference": "4"}', "line 2: no 'Source' key"),
    ("a.jsonl", b"\n\n", "no rows"),
]


@pytest.mark.parametrize("name,data,says", BAD, ids=[b[2][:40] for b in BAD])
def test_every_bad_input_is_one_line_naming_the_row(name, data, says):
    with pytest.raises(DataError) as e:
        parse_data(data, name)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(name) and says in msg, msg


def test_limits_size_rows_and_field_length(tmp_path, monkeypatch):
    monkeypatch.setattr(ud, "MAX_DATA_FIELD_CHARS", 10)
    with pytest.raises(DataError, match=r"line 2: 'reference' has 11 characters, over the limit of 10 \(MAX_DATA_FIELD"):
        parse_data(b"source,reference\n1,22222222222\n", "a.csv")
    monkeypatch.setattr(ud, "MAX_DATA_ROWS", 3)
    with pytest.raises(DataError, match=r"a.jsonl: more than 3 rows \(MAX_DATA_ROWS"):
        parse_data(jsonl(additions(4)), "a.jsonl")
    assert len(parse_data(jsonl(additions(3)), "a.jsonl").pairs) == 3
    monkeypatch.setattr(ud, "MAX_DATA_BYTES", 100)
    path = tmp_path / "big.jsonl"
    path.write_bytes(jsonl(additions(3)))
    with pytest.raises(DataError, match=r"over the limit of 100 \(MAX_DATA_BYTES"):
        read_data(path)
    with pytest.raises(DataError, match="no such file"):
        read_data(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="not a regular file"):
        read_data(tmp_path)


def test_a_row_too_long_for_the_model_is_refused_before_any_work(monkeypatch):
    b = engine.load("addition-gru")
    long_ref = "1" * (b.model.max_len + 5)
    data = parse_data(jsonl(additions(3) + [{"source": "1+1", "reference": long_ref}]), "a.jsonl")
    calls = []
    monkeypatch.setattr(b.model, "decode", lambda *a, **k: calls.append(1))
    with pytest.raises(DataError, match=r"^a.jsonl: line 4: 'reference' is \d+ tokens fed to the decoder; addition-gru's "
                                        r"context is \d+$"):
        analyze_data(b, data)
    monkeypatch.setattr(ud, "MAX_DATA_TOKENS", 3)
    with pytest.raises(DataError, match=r"line 4: 'reference' is 4 tokens long, over the limit of 3 \(MAX_DATA_TOKENS"):
        user_inputs(b, parse_data(jsonl(additions(3) + [{"source": "1+1", "reference": "1234"}]), "a.jsonl"))
    assert not calls                                        # nothing ran


# -- the analysis ----------------------------------------------------------------------------------

def test_addition_gru_end_to_end_matches_generate():
    b = engine.load("addition-gru")
    rows = additions(40) + [{"source": "3+4", "reference": "8"}] * 5           # five wrong references
    data = parse_data(jsonl(rows), "add.jsonl")
    res = analyze_data(b, data, n_boot=100)
    assert res["data"]["rows"] == res["data"]["analysed"] == res["examples"] == 45
    # free-running exact match equals greedy decoding by engine.generate, row by row
    greedy = [engine.generate(b, r["source"], engine.GenerationConfig(max_new_tokens=12)).hypotheses[0]["text"]
              for r in rows]
    k = sum(g == r["reference"] for g, r in zip(greedy, rows))
    mean, lo, hi = wilson(k, len(rows))
    s = res["sequence"]
    assert s["fr_exact_match"] == pytest.approx(mean, abs=1e-5) and s["fr_exact_match_lo"] == pytest.approx(lo, abs=1e-5)
    assert k <= 40                                                            # the wrong references never match
    # per position: the examples with a gold token there (reference digits + <eos>)
    lengths = [len(r["reference"]) + 1 for r in rows]
    assert res["per_position"]["examples"] == [sum(n > j for n in lengths) for j in range(max(lengths))]
    assert res["recovery"]["examples"] == sum(n > 2 for n in lengths)         # t0 = 1: a gold token after it
    again = analyze_data(b, data, n_boot=100)
    res.pop("seconds"), again.pop("seconds")
    assert res == again
    first = analyze_data(b, data, n=10, n_boot=100)
    assert first["examples"] == 10 and first["data"]["analysed"] == 10
    with pytest.raises(DataError, match="t0 9 is beyond the outputs"):
        analyze_data(b, data, t0=9)


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf-data")
    return {"gpt2": engine.load("hf:" + str(hf_tiny.make_gpt2(root))),
            "llama": engine.load("hf:" + str(hf_tiny.make_llama(root))),
            "marian": engine.load("hf:" + str(hf_tiny.MAKERS["marian"](root)))}


LM_ROWS = [{"prompt": "the cat sat", "continuation": " on the mat"},
           {"prompt": "hello", "continuation": " world, hello there"},
           {"prompt": "a quick brown fox jumps over", "continuation": " the"},
           {"prompt": "to be or not", "continuation": " to be, that is the question"}]


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_lm_left_padded_prompts_match_one_row_at_a_time_and_transformers(hf, arch):
    b = hf[arch]
    tok = b.tokenizer
    if arch == "gpt2":
        assert tok.bos_id == tok.eos_id == 0 and tok.pad_id is None          # GPT-2 roles: token 0 is <|endoftext|>
    else:
        assert tok.hf("hello")["input_ids"][0] == tok.bos_id == 1           # Llama: the tokenizer prepends <s>
    data = parse_data(jsonl(LM_ROWS), "lm.jsonl")
    inp, _ = user_inputs(b, data)
    assert inp.tmask is not None and inp.no_gold == -1
    r = tf_fr_pass(b.model, inp)
    hf_model = b.model.hf
    for i, row in enumerate(LM_ROWS):
        one, _ = user_inputs(b, parse_data(jsonl([row]), "one.jsonl"))
        r1 = tf_fr_pass(b.model, one)
        g = r1["gold"].shape[1]
        gold = r["gold"][i, :g]
        assert torch.equal(gold, r1["gold"][0])
        k = int((gold != -1).sum())
        assert torch.allclose(r["tf_lp"][i, :k], r1["tf_lp"][0, :k], atol=1e-4)
        # transformers itself: the prompt as the tokenizer encodes it (GPT-2: no <bos>; Llama: <s>), then the continuation
        p_ids = tok.hf(row["prompt"])["input_ids"]
        c_ids = tok.hf(row["continuation"], add_special_tokens=False)["input_ids"]
        assert gold[:k].tolist() == c_ids
        with torch.no_grad():
            logits = hf_model(torch.tensor([p_ids + c_ids])).logits[0].log_softmax(-1)
        want = logits[len(p_ids) - 1:len(p_ids) - 1 + k].gather(1, torch.tensor(c_ids)[:, None])[:, 0]
        assert torch.allclose(r["tf_lp"][i, :k].float(), want, atol=1e-4)
        # free running: greedy as transformers' generate, from the unpadded prompt
        out = hf_model.generate(torch.tensor([p_ids]), max_new_tokens=k, do_sample=False, pad_token_id=tok.eos_id)
        fr = r["fr_tok"][i, :k].tolist()
        gen = out[0, len(p_ids):].tolist()
        ended = next((j for j, t in enumerate(gen) if t in tok.eos_ids), None)
        upto = k if ended is None else ended + 1
        assert fr[:upto] == gen[:upto]


def test_gpt2_and_marian_end_to_end(hf):
    res = analyze_data(hf["gpt2"], parse_data(jsonl(LM_ROWS * 3), "lm.jsonl"), n_boot=50)
    lengths = [len(hf["gpt2"].tokenizer.hf(r["continuation"], add_special_tokens=False)["input_ids"]) for r in LM_ROWS * 3]
    assert res["per_position"]["examples"] == [sum(n > j for n in lengths) for j in range(max(lengths))]
    assert res["recovery"]["examples"] == sum(n > 2 for n in lengths)
    assert 0 <= res["sequence"]["fr_exact_match_lo"] <= res["sequence"]["fr_exact_match_hi"] <= 1
    b = hf["marian"]
    tok = b.tokenizer
    rows = [{"source": "the cat sat on the mat", "reference": "good morning"},
            {"source": "hello world", "reference": "to be or not to be"}] * 4
    res = analyze_data(b, parse_data(jsonl(rows), "mt.jsonl"), n_boot=50)
    tgt = [tok.hf(text_target=r["reference"], add_special_tokens=False)["input_ids"] for r in rows]
    lengths = [len(t) + 1 for t in tgt]                                        # + </s>, which is id 0 in Marian
    assert tok.eos_id == 0
    assert res["per_position"]["examples"] == [sum(n > j for n in lengths) for j in range(max(lengths))]
    # teacher forcing as transformers computes it: [decoder start] + target -> target + </s>
    inp, _ = user_inputs(b, parse_data(jsonl(rows[:1]), "mt.jsonl"))
    r = tf_fr_pass(b.model, inp)
    hf_model = b.model.hf
    src = tok.hf(rows[0]["source"])["input_ids"]
    with torch.no_grad():
        logits = hf_model(input_ids=torch.tensor([src]),
                          decoder_input_ids=torch.tensor([[tok.decoder_start_id] + tgt[0]])).logits[0].log_softmax(-1)
    gold = tgt[0] + [tok.eos_id]
    want = logits.gather(1, torch.tensor(gold)[:, None])[:, 0]
    assert torch.allclose(r["tf_lp"][0, :len(gold)].float(), want, atol=1e-4)


# -- the command line ------------------------------------------------------------------------------

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "engine", "exposure", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})


def test_cli_data(tmp_path):
    good = tmp_path / "pairs.csv"
    good.write_text("source,reference\n" + "".join(f"{a}+{b},{a + b}\n" for a, b in ADDITIONS * 3))
    out = tmp_path / "res.json"
    p = _cli("--model", "addition-gru", "--data", str(good), "--n", "20", "--bootstrap", "50", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "data: pairs.csv (csv, source/reference), 20 of 24 pairs" in p.stdout
    res = json.loads(out.read_text())
    assert res["examples"] == 20 and res["data"]["sha256"] and res["examples_requested"] == 20
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"source": "1+1", "reference": "2"}\n{"source": "1+1", "reference": 2}\n')
    for args, says in [(["--data", str(bad)], "bad.jsonl: line 2: 'reference' is a number, not text"),
                       (["--data", str(tmp_path / "none.csv")], "none.csv: no such file"),
                       (["--data", str(good), "--n", "99"], "argument --n: 99 is more than the 24 pairs"),
                       (["--data", str(good), "--t0", "7"], "t0 7 is beyond the outputs")]:
        p = _cli("--model", "addition-gru", "--bootstrap", "20", *args)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], p.stderr


# -- the lab page ----------------------------------------------------------------------------------

def test_lab_page_analyses_an_uploaded_file():
    """AppTest cannot upload a file: the test puts the upload's name and bytes where the widget's on_change
    puts them (st.session_state["lab_upload"]); a browser adds the file dialog and that callback."""
    pytest.importorskip("streamlit")
    from apptest_kit import assert_clean, open_app, plotly_specs, shown
    rows = additions(30) + [{"source": "2+2", "reference": "<b>*x*</b>"}]
    at = open_app(ROOT, "views/lab.py", timeout=240, lab_models="addition-gru")
    at.session_state["lab_upload"] = {"name": "my *pairs*.jsonl", "data": jsonl(rows)}
    at.run()
    assert_clean(at)
    titles = [(s.get("layout", {}).get("title") or {}).get("text") or "" for s in plotly_specs(at)]
    assert len(titles) == 5 and all("addition-gru" in t for t in titles), titles
    caption = next(c.value for c in at.caption if "pairs (" in c.value)
    assert shown(caption).startswith("my *pairs*.jsonl: 31 of 31 pairs")       # the file name escaped
    table = at.dataframe[0].value
    assert len(table) == 1
    at.session_state["lab_upload"] = {"name": "bad.jsonl", "data": b'{"source": "1+1"}'}
    at.run()
    assert len(at.error) == 1 and shown(at.error[0].value).startswith("bad.jsonl: line 1: no source/reference")
    assert not plotly_specs(at)


def test_upload_function_caches_on_the_bytes_hash(monkeypatch):
    pytest.importorskip("streamlit")
    from dashboard import lab_upload
    calls = []
    real = engine.analyze_data
    monkeypatch.setattr(engine, "analyze_data", lambda *a, **k: calls.append(1) or real(*a, **k), raising=False)
    data = jsonl(additions(12))
    lab_upload._analysis.clear()
    one = lab_upload.analyse(data, "a.jsonl", ["addition-gru"], 50, 0, 1)
    two = lab_upload.analyse(data, "a.jsonl", ["addition-gru"], 50, 0, 1)
    assert one == two and len(calls) == 1
    lab_upload.analyse(data + b"\n" + jsonl(additions(1)), "a.jsonl", ["addition-gru"], 50, 0, 1)
    assert len(calls) == 2
    with pytest.raises(DataError, match="a.csv: line 2: 'reference' is empty"):
        lab_upload.analyse(b"source,reference\n1,\n", "a.csv", ["addition-gru"], 50, 0, 1)


def test_the_task_examples_as_a_file_give_the_task_analysis():
    """The task's own first n test examples written as a file: every figure equals engine.analyze's."""
    from engine.exposure import analyze
    from engine.tasks import get_task
    b = engine.load("addition-gru")
    examples = get_task("addition").splits(seed=0, sizes={"train": 0, "valid": 0, "test": 60})["test"]
    res = analyze_data(b, parse_data(jsonl([{"source": e.src, "reference": e.tgt} for e in examples]), "t.jsonl"),
                       n_boot=200)
    want = analyze("addition-gru", n=60, n_boot=200, bundle=b)
    for key in ("per_position", "sequence", "calibration", "recovery", "compounding", "drift", "samples"):
        assert res[key] == want[key], key


def test_lab_page_on_a_hugging_face_model(tmp_path):
    """An hf: model opened from the sidebar's box, picked in the lab's form: without a file the page says to
    upload one (an HF model has no held-out task); with the pairs, the same charts."""
    pytest.importorskip("streamlit")
    from apptest_kit import assert_clean, open_app, open_hf_box, plotly_specs
    folder = hf_tiny.make_gpt2(tmp_path)
    name = f"hf:{folder}"
    at = open_hf_box(open_app(ROOT, timeout=240))
    at.text_input(key="_hf_spec").set_value(str(folder)).run()
    at.button(key="_hf_open").click().run()
    at.switch_page("views/lab.py")
    at.run()
    at.multiselect(key="lab_models").set_value([name])
    at.button(key="FormSubmitter:lab_form-Analyse").click().run()
    assert_clean(at)
    assert any("upload your own pairs" in i.value for i in at.info) and not plotly_specs(at)
    at.session_state["lab_upload"] = {"name": "lm.csv", "data": ("prompt,continuation\n" + "".join(
        f'"{r["prompt"]}","{r["continuation"]}"\n' for r in LM_ROWS * 2)).encode()}
    at.run()
    assert_clean(at)
    titles = [(s.get("layout", {}).get("title") or {}).get("text") or "" for s in plotly_specs(at)]
    assert len(titles) == 5 and all(str(folder.name) in t or "hf:" in t for t in titles), titles


@pytest.mark.parametrize("model", ["text-gpt", "dates-transformer"])
def test_a_seqscope_transformer_pads_like_one_pair_at_a_time(model):
    """seqscope's own GPT (prompts left-padded, <bos> prepended) and transformer (sources padded): each
    pair's teacher-forced log-probs and free run in a batch equal those of the pair alone."""
    b = engine.load(model)
    rows = ([{"prompt": "The default value of", "continuation": " the parameter is"},
             {"prompt": "A", "continuation": " small model of the"},
             {"prompt": "In the beginning there was a", "continuation": " word"}] if model == "text-gpt" else
            [{"source": "March 3, 2021", "reference": "2021-03-03"}, {"source": "3/4/99", "reference": "1999-03-04"}])
    inp, _ = user_inputs(b, parse_data(jsonl(rows), "d.jsonl"))
    r = tf_fr_pass(b.model, inp)
    for i, row in enumerate(rows):
        r1 = tf_fr_pass(b.model, user_inputs(b, parse_data(jsonl([row]), "one.jsonl"))[0])
        k = int((r1["gold"][0] != -1).sum())
        assert torch.equal(r["gold"][i, :k], r1["gold"][0, :k])
        assert torch.allclose(r["tf_lp"][i, :k], r1["tf_lp"][0, :k], atol=1e-4)
        assert torch.equal(r["fr_tok"][i, :k], r1["fr_tok"][0, :k])
