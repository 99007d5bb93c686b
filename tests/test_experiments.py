"""Every experiment of the exposure lab runs end to end on a reduced size, saves JSON that loads back,
and reproduces for a seed."""
import json
import subprocess
import sys

import pytest

from engine import experiments as xp

SHIPPED_ONLY = ["tf-vs-fr", "recovery", "beam-curse", "label-smoothing"]
TRAINING = ["ss-schedules", "tbptt", "bpe-vocab"]


def check(res, name):
    assert res["name"] == name and res["quick"] is True
    assert res["caption"].count(". ") >= 1 and res["verdict"]
    assert res["agrees"] in (True, False, None)
    assert ("agree" in res["verdict"]) or ("inconclusive" in res["verdict"])
    json.dumps(res)


@pytest.mark.parametrize("name", SHIPPED_ONLY)
def test_experiments_on_shipped_models(name, tmp_path):
    res = xp.run(name, quick=True)
    check(res, name)
    path = xp.save(res, tmp_path / f"{name}.json")
    assert xp.load_result(path) == json.loads(json.dumps(res))
    if name == "beam-curse":                 # a task with variable-length outputs: text-gpt continuations
        d = res["data"]
        assert d["model"] == "text-gpt" and {(r["beam"], r["length_penalty"]) for r in d["rows"]} == \
            {(1, 0.0), (4, 0.0), (1, 1.0), (4, 1.0)}
        assert all(0 <= r["quality"] <= 100 and r["length_ratio"] > 0 for r in d["rows"])


def test_training_experiment_reproduces_for_a_seed():
    a = xp.run("tbptt", quick=True, seed=1)
    b = xp.run("tbptt", quick=True, seed=1)
    check(a, "tbptt")
    for r in (a, b):                           # wall times differ; everything else must not
        r.pop("seconds")
        for m in r["data"]["models"].values():
            m.pop("seconds")
    assert a == b
    assert set(a["data"]["models"]) == {"L=1", "L=2", "L=4", "full"}


@pytest.mark.parametrize("name", ["ss-schedules", "bpe-vocab"])
def test_other_training_experiments(name):
    res = xp.run(name, quick=True)
    check(res, name)
    if name == "ss-schedules":
        assert res["data"]["task"] == "addition4" and len(res["data"]["models"]) == 5
    if name == "bpe-vocab":
        sizes = [m["vocab_size"] for m in res["data"]["models"].values()]
        assert sizes == sorted(sizes)


def test_decoding_experiment():
    res = xp.run("decoding", quick=True)
    check(res, "decoding")
    rows = res["data"]["hmm-gpt"]
    assert set(rows) == set(xp.STRATEGIES) and all("oracle_nll_per_symbol" in r for r in rows.values())


def test_text_stats():
    s = xp.text_stats([list("abcabcabcabc"), list("abcdefghij")])
    assert s["repetition_4gram"] > 0.3 and 0 < s["distinct_1"] <= 1 and s["self_bleu"] is not None


def test_cli_and_bad_input(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    with pytest.raises(ValueError):
        xp.load_result(bad)
    with pytest.raises(ValueError):
        xp.run("nope")
    p = subprocess.run([sys.executable, "-m", "engine", "experiment", "nope"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr
