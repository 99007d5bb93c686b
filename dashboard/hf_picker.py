"""The model picker's Hugging Face part: models in the local Hugging Face cache are listed with the
shipped ones (engine.list_hf_models: configs only, no torch), and a box in the sidebar opens a model
folder (or a cached name) — loaded once, then listed for every session of this server. Nothing is
downloaded unless the user ticks the download box.

The box also sets where the model runs: a Precision (float32 default, bfloat16, float16: engine.DTYPES)
and a Device (cpu; cuda only when torch sees a GPU). A model opened with other than float32 on cpu is
listed under a name that says so, "hf:gpt2 [bfloat16]" (engine.hf_name; engine.split_hf_name reads it
back): the options are part of the name, so the loaded model, its runs and figures are cached apart from
the float32 ones, and a link keeps them. Models of the local cache listed without a suffix load in float32
on the cpu."""
from __future__ import annotations

import threading

import streamlit as st

import engine
from dashboard.display import folded, md, one_line
from dashboard.url_state import set_shared


@st.cache_resource
def _opened() -> tuple[threading.Lock, list]:
    """The hf: models opened from the box on this server (oldest first, at most MAX_OPENED_HF_MODELS)."""
    return threading.Lock(), []


@st.cache_data(ttl=30, show_spinner=False)
def cached_names() -> list[str]:
    """hf: names of the causal LMs and encoder-decoders in the local Hugging Face cache (rescanned at most
    every 30 s)."""
    return [m["name"] for m in engine.list_hf_models()]


def names() -> list[str]:
    """The Hugging Face models the picker lists: the local cache's, then those opened on this server."""
    lock, opened = _opened()
    with lock:
        extra = list(opened)
    cached = cached_names()
    return cached + [n for n in extra if n not in cached]


LABEL_CHARS = 30        # what the sidebar's Model select shows of a name before it cuts the end


def labels(names: list) -> dict:
    """The Model select's label of each name: an hf: folder too long for the select is shown by its last
    folder with its options, "hf:…/opus-mt-en-de [bfloat16]" (cut at the end, the precision was lost);
    every other name as it is. Labels stay unique: names whose short labels collide are shown whole."""
    short = {}
    for n in names:
        base, options = engine.split_hf_name(n)
        folder = base[len("hf:"):].rstrip("/")
        if n.startswith("hf:") and len(n) > LABEL_CHARS and "/" in folder:
            short[n] = engine.hf_name("hf:…/" + folder.rsplit("/", 1)[-1], **options)
    seen: dict = {}
    for label in short.values():
        seen[label] = seen.get(label, 0) + 1
    return {n: (short[n] if n in short and seen[short[n]] == 1 and short[n] not in names else n) for n in names}


def spec_name(raw: str) -> str:
    """The engine name of what the user typed: "hf:" + a folder or a cache name (one-line ValueError)."""
    raw = (raw or "").strip()
    if not raw:
        raise ValueError("type a model folder (with config.json and safetensors weights) or a cached name like gpt2")
    if len(raw) > engine.MAX_MODEL_SPEC_CHARS:
        raise ValueError(f"the model name is {len(raw):,} characters long; at most {engine.MAX_MODEL_SPEC_CHARS} "
                         "(MAX_MODEL_SPEC_CHARS in engine/limits.py)")
    return raw if raw.startswith("hf:") else "hf:" + raw


@st.cache_resource(show_spinner=False)
def devices() -> list[str]:
    """The devices the box offers: cpu, then cuda when torch sees a GPU (asked once per server)."""
    return engine.available_devices()


def open_model(raw: str, download: bool, load, device: str = "cpu", dtype: str = "float32") -> str:
    """Load the model `raw` names (through `load`, the page's cached loader, after a download when asked)
    on `device` in `dtype`, and list it; returns its picker name (engine.hf_name). A model that cannot be
    opened raises a one-line ValueError."""
    if dtype not in engine.DTYPES:
        raise ValueError(f"precision {dtype!r}: choose one of {', '.join(engine.DTYPES)}")
    if device not in devices():
        raise ValueError(f"device {device!r} is not available here (choose {', '.join(devices())})")
    name = spec_name(raw)
    if download:
        engine.load(name, download=True)                 # fetches what is missing into the cache, then loads
    name = engine.hf_name(name, device, dtype)
    load(name)
    lock, opened = _opened()
    with lock:
        if name not in opened:
            opened.append(name)
            del opened[:-engine.MAX_OPENED_HF_MODELS]
    return name


def _on_open(load) -> None:
    try:
        name = open_model(st.session_state.get("_hf_spec", ""), bool(st.session_state.get("_hf_download")), load,
                          st.session_state.get("_hf_device") or "cpu", st.session_state.get("_hf_dtype") or "float32")
    except Exception as e:  # noqa: BLE001 - CheckpointError, a missing folder, a bad config: one line
        st.session_state["_hf_error"] = one_line(e)
        return
    st.session_state["_hf_error"] = ""
    set_shared("model", name)
    set_shared("input", "")


BOX = "_hf_box"          # the sidebar box's open state


def open_box(load) -> None:
    """The sidebar's box: a folder or cached name, precision and device, a download tick box, Open, and the
    one-line error. Its widgets run only while it is open (a first visit drew all five, folded, on every
    page); an error opens it."""
    if st.session_state.get("_hf_error"):
        st.session_state[BOX] = True
    box = folded("Open a Hugging Face model", BOX)
    if box is None:
        return
    with box:
        st.text_input("Model folder or cached name", key="_hf_spec", placeholder="/path/to/model or gpt2",
                      help="A folder saved by save_pretrained (config.json, *.safetensors, the tokenizer), or a "
                           "model in the local Hugging Face cache. Weights are read from safetensors only.")
        st.selectbox("Precision", engine.DTYPES, key="_hf_dtype",
                     help="The weights' dtype. bfloat16 and float16 take half the memory of float32; the scores "
                          "are computed in float32 either way. Opened with other than float32, the model is "
                          "listed as 'hf:NAME [bfloat16]', apart from its float32 self.")
        devs = devices()
        st.selectbox("Device", devs, key="_hf_device", disabled=len(devs) == 1,
                     help="cpu, or cuda when torch sees a GPU" + ("." if len(devs) > 1 else
                                                                    " (none here: torch sees no CUDA GPU)."))
        st.checkbox("Download it if it is not in the local cache (network)", key="_hf_download")
        st.button("Open", key="_hf_open", on_click=_on_open, args=(load,), icon=":material/folder_open:")
        if st.session_state.get("_hf_error"):
            st.error(md(st.session_state["_hf_error"]))
