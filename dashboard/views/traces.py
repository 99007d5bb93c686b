"""Traces: download any run as JSON, upload one to view it without the model, download a
comparison as a standalone offline HTML report."""
from __future__ import annotations

import json

import streamlit as st

import engine
from dashboard import display, report, runs, sidebar, url_state

MAX_UPLOAD_MB = engine.MAX_TRACE_BYTES // 2 ** 20      # engine.load_trace refuses bigger traces


def _on_upload() -> None:
    f = st.session_state.get("upload")
    if f is None:
        return
    data = f.getvalue()
    try:
        tr = engine.load_trace(data)
    except ValueError as e:
        st.session_state["upload_error"] = f"{f.name}: {display.one_line(e)}"
        st.session_state["uploaded_trace"] = None
        return
    st.session_state["upload_error"] = ""
    runs.remember_upload(tr.to_dict())
    st.session_state["uploaded_name"] = f.name


def main() -> None:
    st.title("Traces")
    model, text, strategies = sidebar.current_model(), sidebar.current_input(), sidebar.current_strategies()

    st.subheader("Download a run")
    c = st.columns([2, 1])
    choice = c[0].selectbox("Run", [s for s in sidebar.run_options() if s != runs.UPLOADED], key="dl_run",
                            bind="query-params")
    tr = sidebar.get_run(choice)
    data = json.dumps(tr, ensure_ascii=False)
    c[1].download_button("Download the trace (JSON)", data, file_name=f"trace-{model}-{choice.replace(' ', '_')}.json",
                         mime="application/json", type="primary", on_click="ignore")
    st.caption(f"{model} · `{text}` · {choice}: {len(data) / 1024:.0f} KB, {len(tr.get('steps') or [])} steps. "
               "Read it back with `engine.load_trace(path)`; format: docs/trace-format.md.")

    st.subheader("Download the comparison as a report")
    traces, errors = sidebar.run_strategies(model, text, strategies)
    for s, msg in errors.items():
        st.error(f"{s}: {msg}")
    if traces:
        st.download_button(
            "Download an offline HTML report", lambda: report.comparison_report(traces).encode("utf-8"),
            file_name=f"seqscope-{model}.html", mime="text/html", on_click="ignore",
            help="One self-contained file (plotly.js inlined): opens without a network or this app.")
        st.caption("Strategies: " + ", ".join(traces))

    st.subheader("Upload a trace")
    st.file_uploader(f"A trace JSON (at most {MAX_UPLOAD_MB} MB; validated, never executed)", type=["json"],
                     key="upload", on_change=_on_upload, max_upload_size=MAX_UPLOAD_MB)
    err = st.session_state.get("upload_error")
    if err:
        st.error(err)
    up = st.session_state.get("uploaded_trace")
    if up:
        hyps = up.get("hypotheses") or []
        st.success(f"Loaded {st.session_state.get('uploaded_name', 'trace')}: model {up['model'].get('name')}, "
                   f"strategy {up.get('strategy')}, input `{up['input']['text']}` → "
                   f"`{hyps[0]['text'] if hyps else ''}`. It is now the run '{runs.UPLOADED}' on these pages:")
        key = st.session_state.get("uploaded_key")
        cols = st.columns(3)
        cols[0].page_link(display.page_ref("views/step.py"), label="Step inspector", icon=":material/biotech:",
                          query_params=url_state.link_params(run=runs.UPLOADED, trace=key))
        cols[1].page_link(display.page_ref("views/attention.py"), label="Attention", icon=":material/visibility:",
                          query_params=url_state.link_params(run=runs.UPLOADED, trace=key))
        if up.get("beam"):
            cols[2].page_link(display.page_ref("views/beam.py"), label="Beam tree", icon=":material/account_tree:",
                              query_params=url_state.link_params(trace=key))
        if st.button("Forget the uploaded trace"):
            st.session_state["uploaded_trace"] = None
            st.rerun()


display.guarded(main)
