"""Limits as one documented policy (issue 10): engine/limits.py holds every limit, docs/limits.md
documents each; the work budget of a decoding request (engine/decoding/budget.py) is checked before
any model call, says which limit and how to raise it, lets every shipped preset and tour run and
refuses num_beams=64 x max_new_tokens=4096 on text-gpt; progress is reported per step and can cancel."""
import ast
import json
import math
import os
import subprocess
import sys
import re

import pytest

import engine
from engine import limits
from engine.decoding import budget as B
from engine.decoding.config import RecordOptions
from engine.tasks import get_task

PROMPT = "The default value of"


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    """These tests run with one torch thread (see conftest.one_torch_thread)."""


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(B.ENV, raising=False)


def _constants() -> list[str]:
    with open(limits.__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    return [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
            if isinstance(t, ast.Name) and t.id.isupper()]


# -- one place, one document ------------------------------------------------------------------------

def test_every_constant_in_limits_py_is_in_the_table_of_docs_limits_md(root):
    doc = (root / "docs" / "limits.md").read_text(encoding="utf-8")
    names = _constants()
    assert len(names) >= 25 and "WORK_BUDGET" in names and "DASHBOARD_MAX_WORK" in names
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([A-Z_0-9]+)` \|.*$", doc, re.M)}
    missing = [n for n in names if n not in rows]
    assert not missing, f"docs/limits.md has no table row for {missing}"
    for name in names:                                   # the row says the value and how to raise it
        cells = [c.strip() for c in rows[name].strip("|").split("|")]
        assert len(cells) == 5 and all(cells), (name, cells)
    stale = sorted(set(rows) - set(names))
    assert not stale, f"docs/limits.md documents limits that engine/limits.py no longer has: {stale}"
    assert B.ENV in doc and "budget=" in doc


def test_limits_py_is_torch_free_and_limit_error_is_a_value_error(root):
    src = (root / "engine" / "limits.py").read_text(encoding="utf-8")
    assert "import torch" not in src
    assert issubclass(engine.LimitError, ValueError) and engine.LimitError is limits.LimitError


def test_the_trace_reader_uses_the_same_limits():
    from engine.trace import io
    assert io.MAX_TRACE_BYTES == limits.MAX_TRACE_BYTES and io.MAX_DEPTH == limits.MAX_TRACE_DEPTH


def test_the_fields_table_takes_its_size_limits_from_limits_py():
    from engine.decoding.fields import FIELDS_BY_NAME as F
    assert F["max_new_tokens"].hi == F["min_new_tokens"].hi == limits.MAX_NEW_TOKENS
    assert F["num_beams"].hi == F["num_beam_groups"].hi == limits.MAX_BEAMS
    assert F["mbr_num_samples"].hi == F["num_return_sequences"].hi == limits.MAX_MBR_SAMPLES
    assert F["seed"].hi == limits.MAX_DECODE_SEED


# -- the formula ----------------------------------------------------------------------------------------

def test_work_by_hand_without_a_model():
    off = RecordOptions.off()
    # greedy, nothing recorded, the default (text-gpt-sized) shape: 1 row x 10 steps x
    # (1 + prefix ids (10-1)/2 / 256 + vocabulary 2048 / 8192)
    per_step = 1 + 4.5 / limits.WORK_NUMBERS_PER_UNIT + 2048 / limits.WORK_VOCAB_PER_UNIT
    assert B.work_units({"max_new_tokens": 10}, off) == math.ceil(10 * per_step)
    assert B.work_units({"max_new_tokens": 10, "num_beams": 4}, off) == math.ceil(40 * per_step)
    assert B.work_units({"max_new_tokens": 10, "do_sample": True, "num_return_sequences": 3}, off, 2) == \
        math.ceil(60 * per_step)
    # MBR: its candidates decode side by side, and every pair is scored by the utility
    mbr = {"max_new_tokens": 10, "mbr": True, "do_sample": True, "mbr_num_samples": 4}
    pairs = 16 * 2 * 10 / limits.WORK_UTILITY_TOKENS_PER_UNIT
    assert B.work_units(mbr, off) == math.ceil(40 * per_step + pairs)
    assert B.work_units({**mbr, "mbr_source": "nbest"}, off) == B.work_units(mbr, off)


def test_recording_and_the_vocabulary_cost_more(text_gpt, dates):
    cfg = {"max_new_tokens": 32, "num_beams": 4}
    none, top = B.work_units(cfg, RecordOptions.off(), model=text_gpt), \
        B.work_units(cfg, RecordOptions(top_k=20, hidden_states=False, attention=False), model=text_gpt)
    hidden = B.work_units(cfg, RecordOptions(top_k=20, hidden_states=True, attention=False), model=text_gpt)
    full = B.work_units(cfg, True, model=text_gpt)
    assert none < top < hidden < full
    assert full > 2 * hidden                       # attention (layers x heads x keys) is the big part
    one_layer = B.work_units(cfg, RecordOptions(layers=[0]), model=text_gpt)
    assert hidden < one_layer < full
    # a bigger vocabulary costs more per step
    w = B.estimate(cfg, RecordOptions.off(), model=text_gpt)
    assert w.per_step > B.estimate(cfg, RecordOptions.off(), model=dates).per_step
    # the length limit caps the steps as generate caps them; a longer prompt leaves fewer
    long = B.estimate({"max_new_tokens": 4096}, True, model=text_gpt, input_tokens=[4])
    assert long.steps == text_gpt.model.max_len - 4
    assert B.estimate({"max_new_tokens": 4096}, True, model=text_gpt, input_tokens=[300]).steps == 20
    # without the input, the longest input the model takes: never less than with it
    assert B.work_units({"max_new_tokens": 40}, True, model=text_gpt) >= \
        B.work_units({"max_new_tokens": 40}, True, model=text_gpt, texts=[PROMPT])
    assert B.work_units({"max_new_tokens": 16}, True, model=dates) >= \
        B.work_units({"max_new_tokens": 16}, True, model=dates, texts=["Wed 3 Mar 21"])


def test_one_definition_for_the_engine_and_the_dashboard(text_gpt):
    assert engine.work_units is B.work_units
    assert engine.WORK_BUDGET == limits.WORK_BUDGET and engine.DASHBOARD_MAX_WORK == limits.DASHBOARD_MAX_WORK
    assert limits.DASHBOARD_MAX_WORK <= limits.WORK_BUDGET
    cfg = {"num_beams": 5, "max_new_tokens": 30}
    n = len(text_gpt.tokenizer.encode(PROMPT).ids)
    assert B.check(text_gpt, engine.GenerationConfig(**cfg), RecordOptions(), [n]).total == \
        engine.work_units(cfg, None, model=text_gpt, texts=[PROMPT])


def test_the_estimate_bounds_the_trace(text_gpt, dates):
    """docs/limits.md: a unit is about 1-2 KB of trace; the estimate is an upper bound in that unit."""
    for b, text, cfg, rec in [
            (text_gpt, PROMPT, {"do_sample": True, "num_return_sequences": 3, "max_new_tokens": 40,
                                "min_new_tokens": 40, "seed": 0}, True),
            (text_gpt, PROMPT, {"num_beams": 4, "max_new_tokens": 24, "min_new_tokens": 24}, False),
            (dates, "Wed 3 Mar 21", {"num_beams": 4, "max_new_tokens": 16}, True)]:
        work = B.work_units(cfg, rec, model=b, texts=[text])
        size = len(engine.generate(b, text, cfg, record=rec).to_json())
        assert size <= 2048 * work, (cfg, size, work)
        assert size >= 200 * work, (cfg, size, work)           # and not absurdly above it


# -- calibration: what runs, what is refused ------------------------------------------------------------

def _tours(root) -> list[tuple]:
    """The tours of the Compare page: the views of the default deck (decks/default.json)."""
    views = json.loads((root / "decks" / "default.json").read_text(encoding="utf-8"))["views"]
    return [(v["title"], v["page"], v["params"], v["note"]) for v in views]


def test_every_preset_on_every_shipped_model_is_within_both_budgets(no_env):
    names = [m if isinstance(m, str) else m["name"] for m in engine.list_models()]
    assert "text-gpt" in names and "dates-transformer" in names
    for name in names:
        b = engine.load(name)
        task = get_task(b.task)
        inputs = list(task.examples())[:4]
        for preset, overrides in engine.PRESETS.items():
            cfg = engine.GenerationConfig(**{**overrides, "max_new_tokens": task.max_new_tokens})
            for text in inputs:
                work = B.check(b, cfg, RecordOptions(), [len(b.tokenizer.encode(text).ids)])  # no LimitError
                assert work.total <= limits.DASHBOARD_MAX_WORK, (name, preset, work.describe())


def test_every_tour_and_the_beam_page_at_its_widest_are_within_both_budgets(root, no_env):
    tours = _tours(root)
    assert len(tours) >= 4
    for label, page, params, _ in tours:
        b = engine.load(params["model"])
        task = get_task(b.task)
        configs = [engine.PRESETS[s] for s in params.get("s", ["greedy"])]
        if "beams" in params:
            configs.append({"num_beams": int(params["beams"]), "num_return_sequences": int(params["beams"])})
        for overrides in configs:
            cfg = engine.GenerationConfig(**{**overrides, "max_new_tokens": task.max_new_tokens})
            ids = b.tokenizer.encode(params["input"]).ids
            assert B.check(b, cfg, RecordOptions(), [len(ids)]).total <= limits.DASHBOARD_MAX_WORK, label
    # the Beam tree page's widest setting (8 beams, 64 new tokens) on every shipped model, any input
    for name in [m if isinstance(m, str) else m["name"] for m in engine.list_models()]:
        b = engine.load(name)
        text = list(get_task(b.task).examples())[0]
        assert B.work_units({"num_beams": 8, "num_return_sequences": 8, "max_new_tokens": 64}, None, model=b,
                            texts=[text]) <= limits.DASHBOARD_MAX_WORK, name


def test_beam_8_on_dates_transformer_runs(dates, no_env):
    t = engine.generate(dates, "Wed 3 Mar 21", {"num_beams": 8, "num_return_sequences": 8, "max_new_tokens": 16})
    assert len(t.to_dict()["hypotheses"]) == 8


@pytest.fixture
def no_model_call(monkeypatch, text_gpt):
    """Any model call fails the test: the budget must refuse before."""
    def boom(*a, **k):
        raise AssertionError("the model was called")
    monkeypatch.setattr(text_gpt.model, "start", boom)
    monkeypatch.setattr(text_gpt.model, "decode", boom)
    return text_gpt


@pytest.mark.parametrize("record", [True, False])
def test_64_beams_x_4096_tokens_on_text_gpt_is_refused_before_any_model_call(no_model_call, no_env, record):
    with pytest.raises(engine.LimitError) as e:
        engine.generate(no_model_call, PROMPT, {"num_beams": 64, "max_new_tokens": 4096}, record=record)
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 400
    assert msg.startswith("work budget: this request is num_beams 64 × ")
    assert f"over the budget of {limits.WORK_BUDGET:,} (WORK_BUDGET)" in msg
    assert "budget=N" in msg and "SEQSCOPE_WORK_BUDGET=N" in msg and "record=False" in msg
    with pytest.raises(engine.LimitError):                       # the same in a batch
        engine.generate_batch(no_model_call, [PROMPT], {"num_beams": 64, "max_new_tokens": 4096}, record=record)


def test_a_batch_counts_every_input(no_model_call, no_env):
    cfg = {"do_sample": True, "num_return_sequences": 8, "max_new_tokens": 40}
    one = engine.work_units(cfg, False, model=no_model_call, texts=[PROMPT])
    assert engine.work_units(cfg, False, model=no_model_call, texts=[PROMPT] * 3) == pytest.approx(3 * one, abs=3)
    with pytest.raises(engine.LimitError) as e:
        engine.generate_batch(no_model_call, [PROMPT] * 3, cfg, record=False, budget=int(2.5 * one))
    assert str(e.value).startswith("work budget: this request is 3 inputs × num_return_sequences 8 × 40 steps")
    assert "(budget=)" in str(e.value)


def test_budget_argument_and_environment_variable_raise_or_lower_it(text_gpt, monkeypatch, no_env):
    cfg = {"max_new_tokens": 12}
    need = engine.work_units(cfg, None, model=text_gpt, texts=[PROMPT])
    with pytest.raises(engine.LimitError, match=r"over the budget of \d+ \(budget=\)"):
        engine.generate(text_gpt, PROMPT, cfg, budget=need - 1)
    assert engine.generate(text_gpt, PROMPT, cfg, budget=need).text
    monkeypatch.setenv(B.ENV, str(need - 1))
    with pytest.raises(engine.LimitError, match=r"\(SEQSCOPE_WORK_BUDGET\)"):
        engine.generate(text_gpt, PROMPT, cfg)
    assert engine.generate(text_gpt, PROMPT, cfg, budget=need).text       # the argument wins
    monkeypatch.setenv(B.ENV, "inf")
    assert B.resolve() == math.inf
    big = {"num_beams": 64, "max_new_tokens": 4096}
    assert B.check(text_gpt, engine.GenerationConfig(**big), RecordOptions(), [4]).total > limits.WORK_BUDGET
    assert B.check(text_gpt, engine.GenerationConfig(**big), RecordOptions(), [4], budget=10 ** 7).total < 10 ** 7
    for bad in ("lots", "-5", "0", "nan"):
        monkeypatch.setenv(B.ENV, bad)
        with pytest.raises(ValueError) as e:
            engine.generate(text_gpt, PROMPT, cfg)
        assert str(e.value).startswith(f"{B.ENV}=") and "positive number" in str(e.value)
    monkeypatch.delenv(B.ENV)
    for bad in (0, -1, float("nan"), "10", True):
        with pytest.raises(ValueError) as e:
            engine.generate(text_gpt, PROMPT, cfg, budget=bad)
        assert str(e.value).startswith("budget=") and "\n" not in str(e.value)


def test_the_cli_reads_the_environment_variable(root, monkeypatch):
    env = {**os.environ, B.ENV: "5", "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "engine", "decode", "--model", "text-gpt", "--input", PROMPT,
                        "--max-new-tokens", "20"], cwd=root, env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "work budget" in out and "SEQSCOPE_WORK_BUDGET" in out and "Traceback" not in out, out


# -- progress ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg", [
    {"max_new_tokens": 6, "min_new_tokens": 6},
    {"do_sample": True, "num_return_sequences": 3, "max_new_tokens": 6, "min_new_tokens": 6, "seed": 0},
    {"num_beams": 3, "max_new_tokens": 6, "min_new_tokens": 6},
    {"mbr": True, "do_sample": True, "mbr_num_samples": 3, "max_new_tokens": 6, "min_new_tokens": 6, "seed": 0},
    {"mbr": True, "mbr_source": "nbest", "mbr_num_samples": 3, "max_new_tokens": 6, "min_new_tokens": 6},
], ids=["greedy", "sample", "beam", "mbr", "mbr-nbest"])
def test_progress_is_called_after_every_step(text_gpt, cfg):
    calls = []
    t = engine.generate(text_gpt, PROMPT, cfg, record=False, progress=lambda i, n: calls.append((i, n)))
    assert calls == [(i, 6) for i in range(1, 7)]
    assert len(t.to_dict()["steps"]) == 6


def test_progress_can_cancel_a_run(text_gpt):
    class Cancelled(Exception):
        pass

    calls = []

    def stop_at_3(i, n):
        calls.append(i)
        if i == 3:
            raise Cancelled

    for cfg in ({"max_new_tokens": 50, "min_new_tokens": 50}, {"num_beams": 4, "max_new_tokens": 50}):
        calls.clear()
        with pytest.raises(Cancelled):
            engine.generate(text_gpt, PROMPT, cfg, record=False, progress=stop_at_3)
        assert calls == [1, 2, 3]
    with pytest.raises(ValueError, match="progress must be a function"):
        engine.generate(text_gpt, PROMPT, {"max_new_tokens": 2}, progress=3)
