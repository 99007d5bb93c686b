"""The Exposure lab and Train pages under streamlit.testing.v1.AppTest, with the shipped models,
the shipped experiment results and the real engine: they run without an exception, and the key
widgets change what is shown; a training run from the page writes a checkpoint; cancel works."""
import json
import re
import time

import pytest

import engine

pytest.importorskip("streamlit")
from apptest_kit import assert_clean as _ok, open_app, shown  # noqa: E402

TIMEOUT = 240


def _app(root, page, **params):
    return open_app(root, page, timeout=TIMEOUT, **params)


def _titles(at):
    out = []
    for c in at.get("plotly_chart"):
        t = (json.loads(c.proto.spec).get("layout", {}).get("title") or {}).get("text") or ""
        out.append(" ".join(re.sub(r"<br>", " ", t).split()))     # the style wraps long titles with <br>
    return out


ANALYSE = "FormSubmitter:lab_form-Analyse"


def _analyse(at, **values):
    """Set the lab's analysis settings (one form) and press "Analyse"."""
    for key, v in values.items():
        next(w for w in at.get(_KIND[key]) if w.key == key).set_value(v)
    at.button(key=ANALYSE).click().run()
    return _ok(at)


_KIND = {"lab_models": "multiselect", "lab_n": "selectbox", "lab_t0": "number_input", "lab_seed": "number_input"}


def _md(at):
    return "\n".join(m.value for m in at.markdown)


def test_lab_dataset_two_models_then_oracle_model(root):
    at = _ok(_app(root, "views/lab.py"))            # the default view: precomputed (results/analysis/)
    assert at.title[0].value == "Exposure lab"
    titles = _titles(at)
    # two models side by side: one per-position chart each
    assert any(t.startswith("addition-gru: per position") for t in titles)
    assert any(t.startswith("addition-gru-ss: per position") for t in titles)
    assert "Exposure bias against the oracle" not in [s.value for s in at.subheader]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert any(len(tr.get("y") or []) > 3 for tr in spec["data"]), "per-position chart without data"
    rows = at.dataframe[0].value
    assert list(rows["model"]) == ["addition-gru", "addition-gru-ss"]
    # one model of the oracle language: exposure bias against the oracle; the gold-token statistics only
    # on request, labelled as not exposure bias
    _analyse(at, lab_models=["hmm-gpt"])
    assert "Exposure bias against the oracle" in [s.value for s in at.subheader]
    titles = _titles(at)
    assert any(t.startswith("hmm-gpt: KL to the oracle") for t in titles)
    assert not any("per position" in t for t in titles)
    assert not any(t.startswith("addition-gru") for t in titles)
    assert len(at.get("plotly_chart")) == 1          # the sections are tabs: only the open one is drawn
    verdict = shown(_md(at))
    assert "%ExAccErr(48) =" in verdict and "95% t interval over 5 sampling seeds" in verdict
    assert list(at.dataframe[0].value["model"]) == ["hmm-gpt"] and "%ExAccErr(48)" in at.dataframe[0].value
    assert "hmm-gpt-ss" in _md(at) + " ".join(c.value for c in at.caption)   # the pairing tip
    at.query_params["lab_section"] = "AccErr"          # another tab (the URL holds the open one)
    _ok(at.run())
    assert [t.split(" (")[0] for t in _titles(at)] == ["hmm-gpt: accumulated error"] or \
        all(t.startswith("hmm-gpt: accumulated error") for t in _titles(at)), _titles(at)
    at.query_params["lab_section"] = "Sampled gold token"
    _ok(at.run())
    assert "not exposure bias" in " ".join(c.value for c in at.caption)
    assert any(t.startswith("hmm-gpt: per position") and "not exposure bias" in t for t in _titles(at))


def test_lab_shipped_pairs_open_precomputed(root):
    """The default view and the hmm pair read results/analysis/ (no analysis runs on the page)."""
    at = _ok(_app(root, "views/lab.py"))
    cap = " ".join(c.value for c in at.caption)
    assert "addition-gru precomputed" in cap and "addition-gru-ss precomputed" in cap
    _analyse(at, lab_models=["hmm-gpt", "hmm-gpt-ss"])
    cap = " ".join(c.value for c in at.caption)
    assert "hmm-gpt precomputed" in cap and "hmm-gpt-ss precomputed" in cap
    assert len([t for t in _titles(at) if "KL to the oracle" in t]) == 2


def test_lab_settings_are_one_form_that_analyses_once(root, monkeypatch):
    """Changing the models, n, t0 and the seed analyses nothing until "Analyse", then once per model
    (a regression: each box used to rerun the analysis)."""
    from dashboard import runs
    calls = []
    real = runs.analysis
    monkeypatch.setattr(runs, "analysis", lambda *a, **k: calls.append(a) or real(*a, **k))
    at = _ok(_app(root, "views/lab.py"))
    assert {at.get(kind)[0].form_id for kind in ("multiselect", "selectbox")} == {"lab_form"}
    assert all(w.form_id == "lab_form" for w in at.number_input if w.key in ("lab_t0", "lab_seed"))
    settings = {"lab_models": ["addition-gru"], "lab_n": 50, "lab_t0": 2, "lab_seed": 3}
    for key, v in settings.items():         # box by box, each followed by a rerun: nothing analysed
        next(w for w in at.get(_KIND[key]) if w.key == key).set_value(v).run()
    _ok(at)
    assert calls == [] and "addition-gru-ss precomputed" in " ".join(c.value for c in at.caption)
    _analyse(at, **settings)                # (AppTest forgets unsubmitted form values: set them again)
    assert calls == [("addition-gru", 50, 3, 2)]
    assert not any(t.startswith("addition-gru-ss") for t in _titles(at))


def test_lab_experiments_render_shipped_results(root):
    at = _ok(_app(root, "views/lab.py", lab_view="Experiments"))
    overview = at.dataframe[0].value
    assert len(overview) == 8
    seen = set()
    for name in ("tf-vs-fr", "label-smoothing", "beam-curse"):
        at.selectbox(key="lab_exp").set_value(name).run()
        _ok(at)
        md = _md(at)
        assert "**This run:**" in md and "**What the literature predicts.**" in md
        charts = at.get("plotly_chart")
        assert charts, name
        seen.add(at.subheader[0].value)
    assert len(seen) == 3     # a different experiment shows a different result


def test_lab_experiment_button_runs_and_saves(root, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQSCOPE_LAB_RUNS", str(tmp_path))
    at = _ok(_app(root, "views/lab.py", lab_view="Experiments", lab_exp="label-smoothing"))
    at.toggle(key="lab_quick").set_value(True).run()
    at.button(key="run_label-smoothing").click().run()
    _ok(at)
    saved = tmp_path / "label-smoothing.json"
    assert saved.exists()
    res = json.loads(saved.read_text())
    assert res["quick"] is True and res["name"] == "label-smoothing"
    assert at.radio(key="lab_src").value == "your run"
    assert "reduced size (--quick)" in " ".join(c.value for c in at.caption)


def _wait(at, job_done, limit=240):
    t = time.time()
    while not job_done() and time.time() - t < limit:
        time.sleep(0.5)
    at.run()
    return at


def test_train_page_trains_and_saves_checkpoint(root, tmp_path):
    at = _ok(_app(root, "views/train.py"))
    assert at.title[0].value == "Train"
    at.text_input(key="tr_name").set_value("lab-test-tiny").run()
    at.number_input(key="tr_steps").set_value(6).run()
    at.number_input(key="tr_eval_every").set_value(3).run()
    at.selectbox(key="tr_ss").set_value("inverse_sigmoid").run()
    _ok(at)
    assert any(t.startswith("scheduled sampling: inverse_sigmoid") for t in _titles(at))
    at.text_input(key="tr_out").set_value(str(tmp_path)).run()
    _ok(at)
    at.button(key="tr_start").click().run()
    _ok(at)
    job = at.session_state["train_job"]
    assert job is not None and job.name == "lab-test-tiny"
    _wait(at, lambda: job.done)
    _ok(at)
    assert job.error is None, job.error
    assert (tmp_path / "lab-test-tiny" / "model.safetensors").exists()
    assert (tmp_path / "lab-test-tiny" / "config.json").exists()
    assert [s["step"] for s in job.steps] == list(range(1, 7))
    assert [e["step"] for e in job.evals] == [3, 6]
    assert any("Checkpoint saved to" in s.value for s in at.success)
    assert any(t.startswith("lab-test-tiny: training") for t in _titles(at))


def test_train_page_cancel_and_bad_input(root, tmp_path):
    at = _ok(_app(root, "views/train.py"))
    at.text_input(key="tr_name").set_value("bad name!").run()
    assert at.error and "invalid name" in shown(at.error[0].value)
    assert not at.exception
    at.text_input(key="tr_name").set_value("lab-test-cancel").run()
    at.text_input(key="tr_out").set_value(str(root / "checkpoints")).run()
    assert at.error and "read-only" in shown(at.error[0].value)
    at.text_input(key="tr_out").set_value(str(tmp_path)).run()
    at.number_input(key="tr_steps").set_value(5000).run()
    at.number_input(key="tr_eval_every").set_value(5000).run()
    _ok(at)
    at.button(key="tr_start").click().run()
    job = at.session_state["train_job"]
    assert job.name == "lab-test-cancel"
    t = time.time()
    while not job.steps and time.time() - t < 120:
        time.sleep(0.2)
    at.run()
    at.button(key="tr_cancel").click().run()
    _wait(at, lambda: job.done)
    _ok(at)
    assert job.card is not None and job.card["stopped"].startswith("cancelled at step")
    assert job.card["steps"] < 5000
    assert (tmp_path / "lab-test-cancel" / "model.safetensors").exists()


def test_lab_lists_and_analyses_a_model_trained_on_the_train_page(root):
    import shutil
    import uuid
    name = f"lab-test-{uuid.uuid4().hex[:6]}"
    folder = root / "runs" / "dashboard" / name
    shutil.copytree(root / "checkpoints" / "addition-gru", folder)   # stands in for a trained checkpoint
    try:
        at = _ok(_app(root, "views/lab.py", lab_n="50"))
        ms = at.multiselect(key="lab_models")
        assert f"runs/dashboard/{name}" in ms.options
        _analyse(at, lab_models=[f"runs/dashboard/{name}"])
        assert list(at.dataframe[0].value["model"]) == [f"runs/dashboard/{name}"]
        assert any(t.startswith(f"runs/dashboard/{name}: per position") for t in _titles(at))
        # the sidebar's model picker lists it too, and the decoding pages open it
        at = _ok(_app(root, "views/compare.py"))
        picker = at.selectbox(key="model")
        assert f"runs/dashboard/{name}" in picker.options
        picker.set_value(f"runs/dashboard/{name}").run()
        _ok(at)
        assert not at.error, [e.value for e in at.error]
        assert "#### greedy" in "\n".join(m.value for m in at.markdown)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_train_form_offers_every_stage_and_the_ss_feed(root):
    """The Train form's stages come from engine.TRAIN_STAGES (MIXER with its options), scheduled sampling
    says which token it feeds (sample by default, argmax on request), and a recipe's init_from is kept for
    an MLE fine-tune (hmm-gpt-ss fine-tunes hmm-gpt)."""
    at = _ok(_app(root, "views/train.py"))
    assert at.selectbox(key="tr_stage").options == list(engine.TRAIN_STAGES)
    at.selectbox(key="tr_ss").set_value("inverse_sigmoid").run()
    assert at.radio(key="tr_ss_feed").value == "sample"
    at.radio(key="tr_ss_feed").set_value("argmax").run()
    _ok(at)
    at.selectbox(key="tr_stage").set_value("mixer").run()
    assert "MIXER feeds the model" in shown(at.error[0].value)       # refused in one line, not run
    at.selectbox(key="tr_ss").set_value("none").run()
    _ok(at)
    for k in ("tr_mx_delta", "tr_mx_every", "tr_mx_samples"):
        assert at.number_input(key=k).value >= 1
    at.selectbox(key="tr_stage").set_value("mle").run()
    at.radio(key="tr_source").set_value("recipe").run()
    at.selectbox(key="tr_recipe").set_value("hmm-gpt-ss").run()
    _ok(at)
    assert engine.recipe_config("hmm-gpt-ss").get("init_from") == "hmm-gpt"
    init = [b for b in at.selectbox if b.label == "init_from"]
    assert [b.value for b in init] == ["hmm-gpt"]                    # was dropped: trained from scratch
