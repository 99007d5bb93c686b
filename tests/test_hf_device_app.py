"""The dashboard's Precision and Device choice for Hugging Face models (issue 12): the sidebar's "Open a
Hugging Face model" box opens a folder in bfloat16, the picker lists it as "hf:FOLDER [bfloat16]" apart
from its float32 self, the Compare page decodes on it and says the precision. Tiny random GPT-2 built
here (tests/hf_tiny.py), no network."""
import sys
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hf_tiny  # noqa: E402
from apptest_kit import assert_clean, open_app, open_hf_box, shown  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory, one_torch_thread):
    return hf_tiny.make_gpt2(tmp_path_factory.mktemp("hf-device-app"), name="gpt2-device")


def _open(at, folder, dtype):
    at.text_input(key="_hf_spec").set_value(str(folder))
    at.selectbox(key="_hf_dtype").set_value(dtype)
    at.run()
    at.button(key="_hf_open").click().run()
    return assert_clean(at)


def test_the_names_carry_the_options():
    from engine import hf_name as with_options, split_hf_name as load_options     # the picker's names are the engine's
    assert with_options("hf:gpt2") == "hf:gpt2" and with_options("hf:gpt2", "cpu", "float32") == "hf:gpt2"
    assert with_options("hf:/m", "cpu", "bfloat16") == "hf:/m [bfloat16]"
    assert with_options("hf:/m", "cuda:1", "float16") == "hf:/m [cuda:1, float16]"
    for device, dtype in [("cpu", "bfloat16"), ("cuda", "float32"), ("cuda:1", "float16")]:
        assert load_options(with_options("hf:/a b/m", device, dtype)) == ("hf:/a b/m", {"device": device, "dtype": dtype})
    for name in ["hf:gpt2", "hf:/m [weird]", "hf:/m [bfloat16, tpu]", "dates-gru-attn", "runs/dashboard/x [bfloat16]"]:
        assert load_options(name) == (name, {})


def test_the_model_select_shows_a_long_folder_by_its_end_with_its_options():
    from dashboard.hf_picker import LABEL_CHARS, labels
    long = "hf:/home/someone/models/" + "x" * LABEL_CHARS + "/opus-mt-en-de"
    got = labels(["dates-gru-attn", "hf:gpt2 [bfloat16]", long, long + " [bfloat16]", long + " [cuda, float16]",
                  "hf:/a/very/long/path/to/one/model/called/m1", "hf:/another/very/long/path/to/model/called/m1"])
    assert got["dates-gru-attn"] == "dates-gru-attn" and got["hf:gpt2 [bfloat16]"] == "hf:gpt2 [bfloat16]"
    assert got[long] == "hf:…/opus-mt-en-de" and got[long + " [bfloat16]"] == "hf:…/opus-mt-en-de [bfloat16]"
    assert got[long + " [cuda, float16]"] == "hf:…/opus-mt-en-de [cuda, float16]"
    assert got["hf:/a/very/long/path/to/one/model/called/m1"] == "hf:/a/very/long/path/to/one/model/called/m1"  # collide:
    assert len(set(got.values())) == len(got)                                                   # shown whole


def test_a_bfloat16_model_opens_decodes_and_says_so(root, folder):
    at = open_hf_box(open_app(root, timeout=240))
    assert list(at.selectbox(key="_hf_dtype").options) == ["float32", "bfloat16", "float16"]
    assert at.selectbox(key="_hf_dtype").value == "float32"
    device = at.selectbox(key="_hf_device")
    import torch
    assert list(device.options) == (["cpu"] if not torch.cuda.is_available() else device.options)
    assert device.value == "cpu"
    _open(at, folder, "bfloat16")
    name = f"hf:{folder} [bfloat16]"
    assert at.session_state["model"] == name
    sel = at.selectbox(key="model")
    assert sel.format_func(name) in sel.options and sel.format_func(name).endswith(" [bfloat16]")   # never cut off
    assert at.get("plotly_chart"), [m.value for m in at.markdown][:6]             # the Compare page decoded
    assert any(f"{name} (lm" in shown(c.value) for c in at.caption), [c.value for c in at.caption][:4]
    from dashboard import runs
    b = runs.load_model(name)
    assert str(next(b.model.parameters()).dtype) == "torch.bfloat16" and b.card["dtype"] == "bfloat16"
    # the same folder in float32: listed apart, loaded apart, decoded apart
    _open(at, folder, "float32")
    assert at.session_state["model"] == f"hf:{folder}"
    sel = at.selectbox(key="model")
    assert sel.format_func(name) in sel.options and sel.format_func(f"hf:{folder}") in sel.options
    assert str(next(runs.load_model(f"hf:{folder}").model.parameters()).dtype) == "torch.float32"
    assert at.get("plotly_chart")


def test_a_link_to_a_precision_not_opened_here_is_refused(root, tmp_path):
    at = open_app(root, timeout=240, model=f"hf:{tmp_path}/never-opened [float16]")
    assert not at.exception
    assert at.session_state["model"] != f"hf:{tmp_path}/never-opened [float16]"


def test_the_lab_analyses_your_data_on_a_bfloat16_model(root, folder):
    """The lab's analysis of uploaded pairs runs on the bfloat16-opened model (figures in float32) and its
    chart titles name the model with its precision."""
    from apptest_kit import plotly_specs
    at = open_hf_box(open_app(root, timeout=240))
    _open(at, folder, "bfloat16")
    name = f"hf:{folder} [bfloat16]"
    at.switch_page("views/lab.py")
    at.run()
    at.multiselect(key="lab_models").set_value([name])
    at.button(key="FormSubmitter:lab_form-Analyse").click().run()
    assert_clean(at)
    rows = [("the cat sat on", " the mat and the dog"), ("a quick brown fox", " jumps over the lazy dog"),
            ("hello world, hello", " there. the world is small")] * 3
    at.session_state["lab_upload"] = {"name": "lm.csv", "data": ("prompt,continuation\n" + "".join(
        f'"{p}","{c}"\n' for p, c in rows)).encode()}
    at.run()
    assert_clean(at)
    titles = [(s.get("layout", {}).get("title") or {}).get("text") or "" for s in plotly_specs(at)]
    assert len(titles) == 5 and all("[bfloat16]:" in t for t in titles), titles
