"""Traces: download any run as JSON, upload one to view it without the model, download a
comparison as a standalone offline HTML report."""
from __future__ import annotations

import json

import streamlit as st

import engine
from dashboard import display, report, runs, sidebar, url_state

MAX_UPLOAD_MB = engine.MAX_TRACE_BYTES // 2 ** 20      # engine.load_trace refuses bigger traces


def _on_upload() -> None:
    """The uploader's callback (outside the page's guard): every failure is one line, shown by main."""
    f = st.session_state.get("upload")
    if f is None:
        return
    try:
        runs.remember_upload(f.getvalue())         # engine.load_trace: size-capped, strict, every field validated
    except (ValueError, RecursionError) as e:      # engine.TraceError is a ValueError
        error = display.one_line(e) if isinstance(e, ValueError) else "nested too deeply to read"
    except Exception as e:  # noqa: BLE001 - never Streamlit's error box
        display.log_error("trace upload")
        error = f"could not be read ({type(e).__name__})"
    else:
        st.session_state["upload_error"] = ""
        st.session_state["uploaded_name"] = f.name
        return
    st.session_state["upload_error"] = f"{f.name}: {error}"
    st.session_state["uploaded_trace"] = None


def download_run(model: str, text: str) -> None:
    c = st.columns([2, 1])
    choice = c[0].selectbox("Run", [s for s in sidebar.run_options() if s != runs.UPLOADED], key="dl_run",
                            bind="query-params")
    tr = sidebar.get_run(choice)
    data = json.dumps(tr, ensure_ascii=False)
    c[1].download_button("Download the trace (JSON)", data, file_name=f"trace-{model}-{choice.replace(' ', '_')}.json",
                         mime="application/json", type="primary", on_click="ignore")
    st.caption(f"{display.md(model)} · {display.code(text)} · {display.md(choice)}: {len(data) / 1024:.0f} KB, "
               f"{len(tr.get('steps') or [])} steps. Read it back with `engine.load_trace(path)`; format: "
               "docs/trace-format.md.")


def download_report(model: str, text: str, strategies: list[str]) -> None:
    if not strategies:
        st.info("No strategy chosen: pick a strategy in the sidebar's Strategies box.")
        return
    traces, errors = sidebar.run_strategies(model, text, strategies)
    for line in sidebar.error_lines(errors, strategies):
        display.error(line)
    if traces:
        st.download_button(
            "Download an offline HTML report", lambda: report.comparison_report(traces).encode("utf-8"),
            file_name=f"seqscope-{model}.html", mime="text/html", on_click="ignore",
            help="One self-contained file (plotly.js inlined): opens without a network or this app.")
        st.caption("Strategies: " + display.md(", ".join(traces)))


def upload() -> None:
    st.file_uploader(f"A trace JSON (at most {MAX_UPLOAD_MB} MB; validated, never executed)", type=["json"],
                     key="upload", on_change=_on_upload, max_upload_size=MAX_UPLOAD_MB)
    err = st.session_state.get("upload_error")
    if err:
        display.error(err)
    up = st.session_state.get("uploaded_trace")
    if up:
        hyps = up.get("hypotheses") or []
        st.success(f"Loaded {display.md(st.session_state.get('uploaded_name', 'trace'))}: model "
                   f"{display.md(up['model'].get('name'))}, strategy {display.md(up.get('strategy'))}, input "
                   f"{display.code(up['input']['text'])} → {display.code(hyps[0]['text'] if hyps else '')}. "
                   f"It is now the run '{runs.UPLOADED}' on these pages:")
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


def main() -> None:
    """Three sections, each guarded on its own: a failing download never hides the upload."""
    st.title("Traces")
    model, text, strategies = sidebar.current_model(), sidebar.current_input(), sidebar.current_strategies()
    st.subheader("Download a run")
    display.guarded(lambda: download_run(model, text))
    st.subheader("Download the comparison as a report")
    display.guarded(lambda: download_report(model, text, strategies))
    st.subheader("Upload a trace")
    display.guarded(upload)


if __name__ == "__main__":         # how st.Page runs a page; importing the module (a test reading a
    display.guarded(main)          # constant) runs nothing
