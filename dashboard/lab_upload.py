"""The lab's dataset analysis on your own data (issue 12): an upload of a JSONL or CSV file of
source/reference (or prompt/continuation) pairs, analysed for the models picked in the lab's form with
its n (the first n pairs), seed and t0 (engine.analyze_data: the same figures and intervals as on the
model's own held-out set, engine/exposure/user_data.py), drawn with the same charts.

The upload's bytes are kept in the session (`st.session_state[STATE]`: name and bytes) when the file
widget changes, so the analysis stays across reruns and a test can set them; every row is checked by
engine.parse_data before any model runs (one line naming the line). Results are cached by the bytes'
sha256, the model and the settings. Text from the file (its name, the samples) is shown escaped
(display.md) or in a dataframe (never Markdown)."""
from __future__ import annotations

import hashlib
import json

import streamlit as st

import engine
from dashboard import charts, display, lab_analysis, runs, url_state

STATE = "lab_upload"                 # {"name": str, "data": bytes} of the uploaded file
WIDGET = "lab_upload_file"
MAX_UPLOAD_MB = max(1, engine.MAX_DATA_BYTES // (1024 * 1024))
FIGURES = [(f"data-{name}", title, figure, caption)       # the charts of the lab's dataset view (lab_analysis.py)
           for name, title, figure, caption in lab_analysis.SECTIONS + [lab_analysis.DRIFT]]


def _on_upload() -> None:
    f = st.session_state.get(WIDGET)
    st.session_state[STATE] = {"name": f.name, "data": f.getvalue()} if f is not None else None


@st.cache_data(show_spinner=False, max_entries=8)
def _analysis(digest: str, name: str, model: str, n: int, seed: int, t0: int, _data: bytes) -> dict:
    """engine.analyze_data, cached by (the file's sha256, its name, model, n, seed, t0)."""
    return engine.analyze_data(runs.load_model(model), engine.parse_data(_data, name), n=n, seed=seed, t0=t0)


def analyse(data: bytes, name: str, models: list[str], n: int, seed: int, t0: int, status=None) -> dict:
    """The analysis of the file for each model (what the widget runs): engine.DataError (one line) for a
    bad file or a row that does not fit a model. `status`: an st.status to write progress into."""
    parsed = engine.parse_data(data, name)          # every row checked before any model runs
    digest = hashlib.sha256(data).hexdigest()
    results = {}
    for m in models:
        if status is not None:
            status.update(label=f"Analysing {m} on {min(n, len(parsed.pairs))} of the {len(parsed.pairs)} pairs of "
                                f"{name} (teacher forcing, free running, recovery, bootstrap)…")
        results[m] = _analysis(digest, name, m, n, seed, t0, data)
    return results


def _draw(results: dict) -> None:
    st.dataframe(charts.sequence_rows(results), hide_index=True, width="stretch")
    for name, title, figure, caption in FIGURES:
        st.subheader(title)
        for col, (m, r) in zip(st.columns(len(results)), results.items()):
            with col:
                display.plot(figure(m, r), f"{name}-{m}", key=f"{name}-{m}")
        if caption and not url_state.presenting():
            st.caption(caption)
    first = next(iter(results.values()))["data"]
    st.caption(f"{display.md(first['file'])}: {first['analysed']} of {first['rows']} pairs "
               f"({display.md('/'.join(first['columns']))}, {first['format'].upper()}). Error rates and exact match "
               "with Wilson 95% intervals, NLL with 95% bootstrap bands over the pairs.")
    for m, r in results.items():
        for w in r["data"]["warnings"]:
            st.warning(f"{display.md(m)}: {display.md(w)}")
    with st.expander("Samples (first 8 pairs)"):
        for m, r in results.items():
            st.markdown(f"**{display.md(m)}**")
            st.dataframe(r.get("samples") or [], hide_index=True, width="stretch")
    st.download_button("Download the analysis of your data (JSON)", json.dumps(results, indent=1),
                       file_name="exposure-your-data.json", mime="application/json", key="lab_upload_download")


def section(models: list[str], n: int, seed: int, t0: int) -> bool:
    """The upload and, with a file, its analysis for `models`. True when it drew the view (a file is
    loaded, or a model has no held-out task of its own: an hf: model), so the page skips the task's."""
    no_task = [m for m in models if m.startswith("hf:")]
    with st.expander("Your own data: a JSONL or CSV of source/reference (or prompt/continuation) pairs",
                     expanded=bool(st.session_state.get(STATE)) or bool(no_task)):
        st.file_uploader(f"Pairs file (JSONL or CSV, at most {MAX_UPLOAD_MB} MB, {engine.MAX_DATA_ROWS:,} rows)",
                         type=["jsonl", "json", "csv"], key=WIDGET, on_change=_on_upload, max_upload_size=MAX_UPLOAD_MB,
                         help="JSONL: one object per line, e.g. {\"source\": \"12+34\", \"reference\": \"46\"}. CSV: a "
                         "header row naming the columns. Encoder-decoder: source → reference; causal LM: prompt → "
                         "continuation. Analysed with the models, n (first n pairs), t0 and seed above.")
        if not url_state.presenting():
            st.caption("Every row is checked before anything runs; the file stays in this session only.")
    up = st.session_state.get(STATE)
    if not up:
        if no_task:
            st.info(f"{display.md(', '.join(no_task))}: a Hugging Face model has no held-out task here; upload "
                    "your own pairs above to analyse it.")
        return bool(no_task)
    try:
        with st.status(f"Reading {display.md(up['name'])}…", expanded=False) as status:
            results = analyse(up["data"], up["name"], models, n, seed, t0, status)
            status.update(label=f"Analysed {display.md(up['name'])}", state="complete")
    except ValueError as exc:                    # engine.DataError and a model's one-line refusals
        display.error(display.one_line(exc))
        return True
    _draw(results)
    return True


__all__ = ["section", "analyse", "STATE", "MAX_UPLOAD_MB"]
