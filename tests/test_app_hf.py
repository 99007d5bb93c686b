"""The dashboard on Hugging Face models (issue 12): the picker lists the local cache's models, the
sidebar's box opens a model folder, and every page runs on it. Tiny random models built here
(tests/hf_tiny.py), no network."""
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hf_tiny  # noqa: E402
from apptest_kit import assert_clean, open_app, open_hf_box  # noqa: E402

PAGES = ["views/compare.py", "views/step.py", "views/attention.py", "views/beam.py", "views/tffr.py"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory, one_torch_thread):
    root = tmp_path_factory.mktemp("hf-app")
    return {"gpt2": hf_tiny.make_gpt2(root), "llama": hf_tiny.make_llama(root), "marian": hf_tiny.MAKERS["marian"](root),
            "marian-spm": hf_tiny.make_marian_spm(root)}


def _open(root, folder, page=None):
    at = open_hf_box(open_app(root, timeout=240))
    at.text_input(key="_hf_spec").set_value(str(folder)).run()
    at.button(key="_hf_open").click().run()
    assert_clean(at)
    assert at.session_state["model"] == f"hf:{folder}"
    if page:
        at.switch_page(page)
        at.run()
    return at


@pytest.mark.parametrize("arch", ["gpt2", "llama", "marian", "marian-spm"])
def test_open_a_folder_and_every_page_runs_on_it(root, folders, arch):
    at = _open(root, folders[arch])
    sel = at.selectbox(key="model")
    assert sel.format_func(f"hf:{folders[arch]}") in sel.options             # listed from now on (labelled short)
    charts_seen = len(at.get("plotly_chart"))
    assert charts_seen >= 1                                                  # the compare page decoded
    for page in PAGES[1:]:
        at.switch_page(page)
        at.run()
        if page.endswith("tffr.py"):                     # an HF model has no task: the user types the reference
            at.text_input(key="ref").set_value(" the end").run()
        assert_clean(at)
        assert at.get("plotly_chart") or at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart"), \
            (page, [m.value for m in at.markdown][:6], [i.value for i in at.info], [w.value for w in at.warning])
    at.switch_page("views/traces.py")                    # downloads of the runs and the HTML report
    at.run()
    assert_clean(at)
    assert at.get("download_button")


def test_a_bad_folder_is_one_line_and_keeps_the_model(root, tmp_path):
    at = open_hf_box(open_app(root, timeout=240))
    before = at.session_state["model"]
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (tmp_path / "pickled" / "pytorch_model.bin").write_bytes(b"\x80\x04not a safetensors file")
    for spec in (str(tmp_path / "missing"), str(tmp_path / "pickled"), "x" * 2000, "   "):
        at.text_input(key="_hf_spec").set_value(spec).run()
        at.button(key="_hf_open").click().run()
        assert not at.exception
        assert len(at.error) == 1 and "\n" not in at.error[0].value, [e.value for e in at.error]
        assert at.session_state["model"] == before


def test_the_picker_lists_the_local_cache(root, folders, tmp_path, monkeypatch):
    """A model in the Hugging Face cache layout (models--org--name/snapshots/<rev>/) is listed as hf:org/name."""
    snap = tmp_path / "hub" / "models--tiny--gpt2" / "snapshots" / "abc123"
    snap.parent.mkdir(parents=True)
    import shutil
    shutil.copytree(folders["gpt2"], snap)
    (tmp_path / "hub" / "models--tiny--gpt2" / "refs").mkdir()
    (tmp_path / "hub" / "models--tiny--gpt2" / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import engine
    assert [m["name"] for m in engine.list_hf_models()] == ["hf:tiny/gpt2"]
    from dashboard import hf_picker
    hf_picker.cached_names.clear()                      # rescanned at most every 30 s otherwise
    at = open_app(root, timeout=240, model="hf:tiny/gpt2")
    assert_clean(at)
    assert "hf:tiny/gpt2" in at.selectbox(key="model").options and at.session_state["model"] == "hf:tiny/gpt2"


def test_a_deep_models_head_grid_is_paged_by_layers(root, tmp_path, one_torch_thread):
    """A 12-layer model's grid of layers x heads shows 4 layers at a time (issue 12: 12 x 12 readable)."""
    if True:
        from transformers import GPT2Config, GPT2LMHeadModel
        folder = tmp_path / "gpt2-deep"
        tok = hf_tiny.gpt2_tokenizer()
        eot = tok.token_to_id("<|endoftext|>")
        hf_tiny._save_tokenizer(tok, folder, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                unk_token="<|endoftext|>")
        GPT2LMHeadModel(GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=64, n_embd=24, n_layer=12, n_head=12,
                                   bos_token_id=eot, eos_token_id=eot)).eval().save_pretrained(folder)
    at = _open(root, folder, "views/attention.py")
    assert_clean(at)
    at.toggle(key="grid").set_value(True).run()
    assert_clean(at)
    seg = at.get("button_group")
    assert seg, "no layer pages"
    assert list(seg[0].proto.options and [o.content for o in seg[0].proto.options]) == ["0–3", "4–7", "8–11"]
    grid = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert len(grid) >= 2                                   # the heatmap and the paged grid
