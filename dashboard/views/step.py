"""Step inspector: one decode, step by step: the top-k before and after the decoding rules."""
from __future__ import annotations

from contextlib import nullcontext

import streamlit as st

from dashboard import charts, display, presenter, sidebar, url_state


def step_line(source: str, prefix: str, token: str, t: int, n: int, prob, *, big: bool) -> str:
    """The Markdown line above the chart: input → prefix + chosen token (step t of n - 1; presenting, cut to
    presenter.LINE_CHARS, without the chosen token's repr and p: p is the chosen bar's length)."""
    if big:
        source, prefix = (display.clip(source, presenter.LINE_CHARS["input"]),
                          display.clip(prefix, presenter.LINE_CHARS["prefix"], tail=True))
        return (f"**{display.md(source)}** → {display.code(prefix)} + **{display.code(token)}** "
                f"(step {t} of {n - 1})")
    return (f"**{display.md(source)}** → {display.code(prefix)} + **{display.code(token)}** "
            f"(step {t} of {n - 1}; chosen token {display.md(repr(token))}, p = {display.fmt_score(prob)})")


def main() -> None:
    opts = sidebar.run_options()
    if not url_state.presenting():
        st.title("Step inspector")
    box = presenter.controls()          # in presentation mode: folded into the "Controls" popover
    c1, c2 = box.columns([2, 1])
    with c1:
        choice = st.selectbox("Run", opts, key="run", bind="query-params",
                              help="One of the strategies from the sidebar, any preset, or an uploaded trace.")
    tr = sidebar.get_run(choice)
    hyps = tr.get("hypotheses") or []
    labels = [f"#{i + 1}: {h['text'][:30]!r}" for i, h in enumerate(hyps)]
    sidebar.follow_labels("hyp", labels)         # another run: the box shows its labels, not the old ones
    with c2:
        hyp = st.selectbox("Hypothesis", list(range(len(hyps))), key="hyp", bind="query-params",
                           format_func=lambda i: labels[i]) if len(hyps) > 1 else 0
    rows = charts.hypothesis_steps(tr, hyp or 0)
    if not rows:
        st.warning("This run recorded no steps.")
        return
    n = len(rows)
    if int(st.session_state.get("step") or 0) > n - 1:
        st.session_state["step"] = n - 1
    if n > 1:
        # no default (it is the minimum, 0): a default plus the Session State value the buttons set
        # made Streamlit log a warning on every "next" (issue 13, bug 6)
        box.slider("Step", 0, n - 1, key="step", bind="query-params")
    else:
        st.session_state["step"] = 0
    presenter.stepper("step", list(range(n)), controls=box, play=True)    # ← → PageUp PageDown, P plays
    t = min(int(st.session_state.get("step", 0)), n - 1)
    row = rows[t]
    entry = row["entry"]
    prefix = "".join(r["token"] for r in rows[:t])
    big = url_state.presenting()
    with st.container(key=presenter.ONE_LINE + "_step") if big else nullcontext():     # one line, cut with …
        st.markdown(step_line(tr["input"]["text"], prefix, row["token"], t, n, row["prob"], big=big))
    m = box.columns(4)
    m[0].metric("entropy before the rules", display.fmt_score(entry.get("entropy_raw")))
    m[1].metric("entropy after the rules", display.fmt_score(entry.get("entropy")))
    srows = charts.step_rows(entry, row["token_id"])
    m[2].metric("tokens cut (in the top list)", sum(r["cut"] for r in srows))
    m[3].metric("chosen token's log-prob (raw)", display.fmt_score(entry.get("raw_logprob")
                                                                       if entry.get("raw_logprob") is not None
                                                                       else row.get("logprob")))
    log = box.toggle("log scale", key="log", bind="query-params",
                    help="show the small probabilities too (a confident model puts almost all mass on one token)")
    display.plot(charts.step_figure(entry, row["token_id"], log=log,
                                  title=f"step {t}: top-{len(entry.get('top_before') or [])} before and after "
                                        f"the decoding rules ({display.label(tr.get('strategy'))})"), "step")
    if not url_state.presenting():
        st.caption("Light bars: the model's raw softmax. Dark bars: the distribution after temperature, "
                   "top-k/top-p/min-p/typical, penalties and bans, which the token is drawn from. Grey = cut "
                   "by the rules; orange with a red outline = the chosen token.")


if __name__ == "__main__":         # how st.Page runs a page; importing the module (a test reading a
    display.guarded(main)          # constant) runs nothing
