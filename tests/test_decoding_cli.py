"""`python -m engine decode` / `tf-fr`: flags map to the config, --json / --out, bad input exits 2 in one line."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import engine
from engine.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    """These tests run with one torch thread (see conftest.one_torch_thread)."""


def test_decode_json_and_out(tmp_path, capsys):
    out = tmp_path / "t.json"
    rc = main(["decode", "--model", "dates-gru-attn", "--input", "3 march 2021", "--num-beams", "3",
               "--num-return-sequences", "2", "--length-penalty", "0.5", "--early-stopping", "never", "--json",
               "--out", str(out), "--record-top-k", "4", "--no-hidden"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["strategy"] == "beam" and d["config"]["num_beams"] == 3 and d["config"]["early_stopping"] == "never"
    assert d["config"]["length_penalty"] == 0.5 and len(d["hypotheses"]) == 2
    assert len(d["steps"][0]["hypotheses"][0]["top_before"]) == 4 and d["steps"][0]["hypotheses"][0]["hidden"] is None
    assert engine.load_trace(out).to_dict() == engine.Trace.from_dict(d).to_dict()     # --json prints the saved form


def test_decode_summary_sampling_and_forcing(capsys):
    rc = main(["decode", "--model", "text-gpt", "--input", "The default value of", "--do-sample", "--top-p", "0.9",
               "--top-k", "50", "--temperature", "0.8", "--seed", "4", "--max-new-tokens", "6", "--no-record"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "sample" in text and "seed 4" in text
    rc = main(["decode", "--model", "dates-gru-attn", "--input", "3 march 2021", "--force", "0=1", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert rc == 0 and d["hypotheses"][0]["text"].startswith("1") and d["forced"]["tokens"] == {"0": engine.load("dates-gru-attn").tokenizer.encode("1").ids[0]}


def test_tf_fr_json(capsys):
    rc = main(["tf-fr", "--model", "addition-gru", "--input", "217676+84027", "--reference", "301703", "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert len(d["rows"]) == 7 and d["tf"]["strategy"] == "teacher_forced"
    c = engine.TFFRComparison.from_dict(d)
    assert c.first_divergence == d["first_divergence"]


@pytest.mark.parametrize("argv,needle", [
    (["decode", "--model", "text-gpt", "--input", "The", "--top-p", "2"], "argument --top-p: top_p=2.0"),
    (["decode", "--model", "text-gpt", "--input", "The", "--top-p", "x"], "--top-p"),
    (["decode", "--model", "nope", "--input", "x"], "nope"),
    (["decode", "--model", "dates-gru-attn", "--input", ""], "empty"),
    (["decode", "--model", "dates-gru-attn", "--input", "x", "--early-stopping", "maybe"], "early-stopping"),
    (["decode", "--model", "dates-gru-attn", "--input", "x", "--force", "3"], "STEP=TOKEN"),
    (["decode", "--model", "dates-gru-attn", "--input", "x", "--config-json", "{"], "argument --config-json"),
    (["decode", "--model", "dates-gru-attn", "--input", "x", "--config-json", '{"top_p": 2}'],
     "argument --config-json: top_p"),
    (["decode", "--model", "dates-gru-attn", "--input", "x", "--config-json", '{"top_p": 0.5}', "--top-p", "3"],
     "argument --top-p: top_p=3.0"),
    (["tf-fr", "--model", "dates-gru-attn", "--input", "x"], "--reference"),
])
def test_bad_input_exits_2_with_one_line(argv, needle, capsys):
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_subprocess_exit_status():
    p = subprocess.run([sys.executable, "-m", "engine", "decode", "--model", "dates-gru-attn", "--input",
                        "3 march 2021", "--num-beams", "0"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "argument --num-beams: num_beams=0" in p.stderr and "Traceback" not in p.stderr
