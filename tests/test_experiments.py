"""Every experiment of the exposure lab runs end to end on a reduced size, saves JSON that loads back,
and reproduces for a seed."""
import json
import subprocess
import sys

import pytest

from engine import experiments as xp
from engine.experiments.cli import NAMES, add_parsers
from engine.experiments.decoding import LOOP_STRATEGIES, STRATEGIES, ends_in_loop, text_stats
from engine.tokenizer import EOS
from engine.experiments.verdict import OUTCOMES, decide

# this file tests LAB-A's experiments and the shared registry / store / CLI; the redesigned setups
# (recovery, label-smoothing, tbptt, bpe-vocab) are tested in tests/test_experiments_setups.py
SHIPPED_ONLY = ["tf-vs-fr", "beam-curse"]


def check(res, name):
    assert res["name"] == name and res["quick"] is True
    assert res["caption"].count(". ") >= 1 and res["verdict"] and res["test"] and res["prediction"]
    assert res["outcome"] in OUTCOMES and res["agrees"] == {"agrees": True, "disagrees": False}.get(res["outcome"])
    assert res["seeds"] and all(isinstance(s, int) for s in res["seeds"])
    # the outcome follows from the interval alone
    assert res["outcome"] == decide(*(float("nan") if x is None else x for x in (res["lo"], res["hi"])))
    if res["lo"] is not None:
        assert res["lo"] <= res["estimate"] <= res["hi"]
    json.dumps(res, allow_nan=False)


@pytest.mark.parametrize("name", SHIPPED_ONLY)
def test_experiments_on_shipped_models(name, tmp_path):
    seeds = (0, 1) if name == "tf-vs-fr" else (0,)
    res = xp.run_experiment(name, quick=True, seeds=seeds)
    check(res, name)
    path = xp.save_result(res, tmp_path / f"{name}.json")
    assert xp.load_result(path) == json.loads(json.dumps(res))
    if name == "beam-curse":          # Koehn & Knowles's curve: small GRUs trained here + two shipped seq2seq models
        from engine.experiments.beam_curse import SMALL
        d = res["data"]
        assert d["models"] == ["dates-gru-attn", "addition-gru", SMALL]
        assert d["sets"]["dates-gru-attn"] == {"handwritten": 16, "test subset 0": 8}
        assert d["sets"]["addition-gru"] == {"test subset 0": 8} and d["sets"][SMALL] == {"test subset 0": 8}
        assert res["n"] == 8 and 0 <= res["p"] <= 1
        n = {"dates-gru-attn": 24, "addition-gru": 8, SMALL: 8}
        for m in d["models"]:
            rows = [r for r in d["rows"] if r["model"] == m]
            assert {(r["beam"], r["length_penalty"]) for r in rows} == {(1, 0.0), (4, 0.0), (16, 0.0), (16, 1.0)}
            greedy = next(r for r in rows if r["beam"] == 1)
            assert greedy["differs_from_greedy"] == 0
            assert all(r["differs_from_greedy"] <= d["changed_outputs"][m] for r in rows)
            for r in rows:
                assert r["exact_match_lo"] <= r["exact_match"] <= r["exact_match_hi"] and r["n"] == n[m]
                assert r["too_short_lo"] <= r["too_short"] <= r["too_short_hi"] and 0 <= r["empty"] <= r["n"]
        # the estimate is the mean over training seeds of the small GRU's greedy minus width-16 exact match
        em = {w: next(r["exact_match"] for r in d["rows"] if r["model"] == SMALL and r["beam"] == w
                      and r["length_penalty"] == 0) for w in (1, 16)}
        assert d["small_per_seed"] == [pytest.approx(em[1] - em[16])] and res["estimate"] == pytest.approx(em[1] - em[16])
        assert res["lo"] is None or res["lo"] != res["lo"]       # one seed: no t interval, so no verdict
        assert res["outcome"] == "inconclusive"
        # the sentence says plainly when no width changed any output of the shipped models
        shipped_changed = d["changed_outputs"]["dates-gru-attn"] + d["changed_outputs"]["addition-gru"]
        assert ("cannot show the curse" in res["verdict"]) == (shipped_changed == 0)
        # the lab chart draws every model x length penalty, one point per width, n and the changes in the hover
        from dashboard.charts.experiments import experiment_figures
        fig = experiment_figures(res)[0]
        lines = [t for t in fig.data if t.mode == "lines+markers"]
        assert len(lines) == 3 * 2 * 3 and {len(t.x) for t in lines} == {1, 3}
        assert all(any(m in t.name for m in d["models"]) for t in lines)
        assert all("n = " in t.hovertemplate and t.customdata is not None for t in lines)
    if name == "tf-vs-fr":            # two test samples of 100 sums, paired per sum, McNemar beside it
        d = res["data"]
        assert res["n"] == 200 and [r["seed"] for r in d["per_seed"]] == [0, 1] and 0 <= res["p"] <= 1
        a, b = d["models"]
        gaps = [(d["models"][m]["fr_errors"] - d["models"][m]["tf_errors"]) / 200 for m in (a, b)]
        assert res["estimate"] == pytest.approx(gaps[0] - gaps[1])


def test_beam_curse_sentence_says_when_no_output_changed():
    from engine.experiments.beam_curse import _changed_sentence
    totals = {"dates-gru-attn": 246, "addition-gru": 150}
    none = _changed_sentence({"dates-gru-attn": 0, "addition-gru": 0}, 64, totals)
    assert "cannot show the curse" in none and "246 inputs of dates-gru-attn" in none and "up to 64" in none
    some = _changed_sentence({"dates-gru-attn": 3, "addition-gru": 0}, 64, totals)
    assert "cannot show" not in some and "dates-gru-attn 3 of 246" in some and "addition-gru 0 of 150" in some


def test_experiment_reproduces_for_a_seed():
    a = xp.run_experiment("tf-vs-fr", quick=True, seeds=(1,))
    b = xp.run_experiment("tf-vs-fr", quick=True, seeds=(1,))
    check(a, "tf-vs-fr")
    for r in (a, b):                           # wall times differ; everything else must not
        r.pop("seconds")
        for m in r["data"]["analysis"].values():
            m.pop("seconds", None)
    assert a == b


def test_ss_schedules_pairs_by_seed():
    res = xp.run_experiment("ss-schedules", quick=True, seeds=(0, 1))
    check(res, "ss-schedules")
    d = res["data"]
    assert d["task"] == "addition4" and len(d["models"]) == 5 and d["seeds"] == [0, 1] and res["n"] == 2
    em = {k: m["exact_match_per_seed"] for k, m in d["models"].items()}
    per_seed = [(em["linear"][j] + em["exponential"][j] + em["inverse-sigmoid"][j]) / 3 - em["always-gold"][j]
                for j in range(2)]
    assert d["decays_minus_gold_per_seed"] == pytest.approx(per_seed)
    assert res["estimate"] == pytest.approx(sum(per_seed) / 2)
    assert "t 95% interval" in res["test"] or "Student t" in res["test"]


def test_decoding_experiment():
    res = xp.run_experiment("decoding", quick=True, seeds=(0,))
    check(res, "decoding")
    rows = res["data"]["hmm-gpt"]
    assert set(rows) == set(STRATEGIES) and all("oracle_nll_per_symbol" in r for r in rows.values())
    loops = res["data"]["text-gpt"]
    assert set(loops) == set(LOOP_STRATEGIES) and res["data"]["text-gpt-meta"]["prompts"] == 16
    for r in loops.values():
        assert r["loop_share_lo"] <= r["loop_share"] <= r["loop_share_hi"] and r["continuations"] == 16
    g, t = (res["data"]["text-gpt-per-prompt"][k] for k in ("greedy", "top-p-0.9"))
    assert res["estimate"] == pytest.approx(sum(g) / 16 - sum(t) / 16)


def test_ends_in_loop():
    assert ends_in_loop([5, 6, 7] + [11, 12, 13] * 5, 18)            # period 3, five times to the end
    assert ends_in_loop([9] * 12, 12)                                  # period 1 over MIN_SPAN tokens
    assert not ends_in_loop([9] * 11, 11)                              # too short a span
    assert not ends_in_loop([11, 12, 13] * 5, 20)                      # stopped before its budget
    assert not ends_in_loop([11, 12, 13] * 5 + [EOS], 16)              # ended with end-of-sequence
    assert not ends_in_loop(list(range(10, 50)), 40)
    assert ends_in_loop(list(range(10, 30)) + list(range(100, 116)) * 3, 68)   # period 16, three times
    assert not ends_in_loop(list(range(10, 30)) + list(range(100, 117)) * 3, 71)   # period 17: beyond MAX_PERIOD


def test_text_stats():
    s = text_stats([list("abcabcabcabc"), list("abcdefghij")])
    assert s["repetition_4gram"] > 0.3 and 0 < s["distinct_1"] <= 1 and s["self_bleu"] is not None


def test_cli_and_bad_input(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    with pytest.raises(ValueError):
        xp.load_result(bad)
    with pytest.raises(ValueError):
        xp.run_experiment("nope")
    p = subprocess.run([sys.executable, "-m", "engine", "experiment", "nope"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert NAMES == list(xp.EXPERIMENTS)          # the CLI's choices are the registry, in its order
    import argparse
    p = argparse.ArgumentParser()
    add_parsers(p.add_subparsers(dest="command"))
    a = p.parse_args(["experiment", "decoding", "--quick", "--out", "x.json"])
    assert (a.command, a.name, a.quick, a.seeds, a.threads, a.out) == ("experiment", "decoding", True, None, 1, "x.json")
    assert p.parse_args(["experiment", "decoding", "--seeds", "3, 1"]).seeds == (3, 1)


def test_registry_runners_carry_title_and_caption():
    import engine
    assert engine.EXPERIMENTS is xp.EXPERIMENTS and engine.run_experiment is xp.run_experiment
    for name, runner in xp.EXPERIMENTS.items():
        assert runner.name == name and runner.title and runner.caption.count(". ") >= 1


# -- the store ---------------------------------------------------------------------------------

def test_store_paths_and_default_user_dir(tmp_path, monkeypatch):
    shipped, user = tmp_path / "shipped", tmp_path / "user"
    store = xp.ExperimentStore(shipped_dir=shipped, user_dir=user)
    assert store.paths("tf-vs-fr") == {}
    assert store.user_path("tf-vs-fr") == user / "tf-vs-fr.json"
    res = xp.run_experiment("tf-vs-fr", quick=True, seeds=(0,))
    xp.save_result(res, shipped / "tf-vs-fr.json")
    assert store.paths("tf-vs-fr") == {"shipped": shipped / "tf-vs-fr.json"}
    xp.save_result(res, user / "tf-vs-fr.json")
    assert store.paths("tf-vs-fr") == {"shipped": shipped / "tf-vs-fr.json", "your run": user / "tf-vs-fr.json"}
    assert store.read(user / "tf-vs-fr.json") == json.loads(json.dumps(res))
    monkeypatch.setenv("SEQSCOPE_LAB_RUNS", str(tmp_path / "env"))      # read at each use
    assert xp.ExperimentStore().user_dir == tmp_path / "env"
    assert (xp.ExperimentStore().shipped_dir / "tf-vs-fr.json").exists()    # the shipped results in git


def test_store_run_saves_atomically(tmp_path, monkeypatch):
    store = xp.ExperimentStore(shipped_dir=tmp_path / "shipped", user_dir=tmp_path / "user")
    lines = []
    path = store.run("tf-vs-fr", quick=True, seeds=(0,), progress=lines.append)
    assert path == store.user_path("tf-vs-fr") and len(lines) >= 3          # start, one per seed, saved
    res = store.read(path)
    check(res, "tf-vs-fr")
    assert sorted(p.name for p in path.parent.iterdir()) == ["tf-vs-fr.json"]      # no temporary file left
    before = path.read_bytes()

    def broken(quick, seeds, progress):
        raise RuntimeError("interrupted")
    monkeypatch.setitem(xp.EXPERIMENTS, "tf-vs-fr", broken)
    with pytest.raises(RuntimeError):
        store.run("tf-vs-fr", quick=True)
    assert path.read_bytes() == before and len(list(path.parent.iterdir())) == 1


def test_store_overview(tmp_path):
    shipped, user = tmp_path / "shipped", tmp_path / "user"
    store = xp.ExperimentStore(shipped_dir=shipped, user_dir=user)
    rows = store.overview()
    assert [r["experiment"] for r in rows] == list(xp.EXPERIMENTS)
    assert all(r["result"] == "not run yet" and r["agrees"] is None for r in rows)
    res = xp.run_experiment("tf-vs-fr", quick=True, seeds=(0,))
    xp.save_result({**res, "quick": False}, shipped / "tf-vs-fr.json")
    (user / "label-smoothing.json").parent.mkdir(parents=True)
    (user / "label-smoothing.json").write_text("{}")
    rows = {r["experiment"]: r for r in store.overview()}
    assert rows["tf-vs-fr"]["result"].startswith("shipped, ") and rows["tf-vs-fr"]["verdict"] == res["verdict"]
    assert rows["tf-vs-fr"]["agrees"] == res["agrees"] and rows["tf-vs-fr"]["outcome"] == res["outcome"]
    assert rows["tf-vs-fr"]["estimate"].count("[") == 1                     # "est [lo, hi]"
    assert rows["label-smoothing"]["result"].startswith("unreadable: ")
    store.run("tf-vs-fr", quick=True, seeds=(0,))
    assert store.overview()[0]["result"].startswith("your run (quick), 1 seed")
    default = {r["experiment"]: r for r in xp.ExperimentStore(user_dir=user).overview()}
    assert default["beam-curse"]["result"].startswith("shipped")


# -- the --seeds flag and the registry's contract -----------------------------------------------

def test_seeds_flag_is_checked_in_one_line(tmp_path):
    from engine.limits import MAX_EXPERIMENT_SEEDS
    too_many = ",".join(str(i) for i in range(MAX_EXPERIMENT_SEEDS + 1))
    for bad, needle in (("0,x", "not an integer"), ("1,1", "repeats"), ("", "not a list"), ("0,,1", "not a list"),
                        ("-1", "out of range"), (too_many, "MAX_EXPERIMENT_SEEDS")):
        p = subprocess.run([sys.executable, "-m", "engine", "experiment", "tf-vs-fr", "--quick", f"--seeds={bad}",
                            "--out", str(tmp_path / "r.json")], capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and needle in p.stderr and "Traceback" not in p.stderr, (bad, p.stderr)
        assert len(p.stderr.strip().splitlines()) <= 2 and not (tmp_path / "r.json").exists()


def test_registry_new_signature_and_progress(monkeypatch):
    from engine.experiments.registry import experiment, EXPERIMENTS
    from engine.experiments.verdict import make_verdict
    seen = []

    @experiment("t-new", "T", "A caption. Two sentences.")
    def t_new(quick, seeds, progress):
        for s in seeds:
            progress(f"seed {s}")
        return {"seeds_seen": list(seeds)}, make_verdict(prediction="p", test="paired t over seeds",
                                                         estimate=0.2, lo=float("nan"), hi=0.5, text="x", n=3)
    try:
        res = xp.run_experiment("t-new", quick=True, progress=seen.append)
        assert res["seeds"] == [0, 1, 2] and seen == ["seed 0", "seed 1", "seed 2"]
        assert res["outcome"] == "inconclusive" and res["agrees"] is None and res["lo"] is None   # nan -> null
        assert res["estimate"] == 0.2 and res["n"] == 3 and res["test"] == "paired t over seeds"
        json.dumps(res, allow_nan=False)
        assert xp.run_experiment("t-new", quick=False, seeds=[7])["seeds"] == [7]
    finally:
        EXPERIMENTS.pop("t-new")
    with pytest.raises(TypeError, match="fn\\(quick, seeds, progress\\)"):        # the old signature is refused
        experiment("t-old", "T", "A caption. Two sentences.")(lambda quick, seed: ({}, True, "agrees"))
    assert "t-old" not in EXPERIMENTS
