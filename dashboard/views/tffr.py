"""Teacher forcing vs free running, and "one wrong note": inject a wrong token at step t."""
from __future__ import annotations

import json

import streamlit as st

from dashboard import charts, display, presenter, runs, sidebar, url_state


def _runner_up(cmp: dict, t: int) -> tuple[str, str]:
    """The model's most probable token at reference position t (teacher-forced) other than the
    reference token and other than the token free running produced at t (injecting the model's own
    token would change nothing): the most plausible wrong note. Returns (token id as str, token)."""
    steps = (cmp.get("tf") or {}).get("steps") or []
    own = {cmp["rows"][t]["ref_id"], cmp["rows"][t].get("fr_id")}
    if t < len(steps) and steps[t].get("hypotheses"):
        for d in steps[t]["hypotheses"][0].get("top_before") or []:
            if d["id"] not in own and d["token"] not in ("<eos>", "<pad>", "<bos>", "<unk>"):
                return str(d["id"]), d["token"]
    raise ValueError(f"no alternative token recorded at step {t}; type the wrong token yourself")


def _output(cmp: dict) -> str:
    fr = cmp.get("fr") or {}
    hyps = fr.get("hypotheses") or []
    return hyps[0]["text"] if hyps else "".join(r.get("fr_token") or "" for r in cmp["rows"])


def main() -> None:
    model, text = sidebar.current_model(), sidebar.current_input()
    if not url_state.presenting():
        st.title("Teacher forcing vs free running")
    default_ref = runs.default_reference(model, text)
    box = presenter.controls()          # in presentation mode: folded into the "Controls" popover
    c = box.columns([3, 1, 1])
    with c[0]:
        ref = st.text_input("Reference (the target / the continuation)", key="ref", bind="query-params",
                            placeholder=default_ref or "type the reference output")
    ref = ref or default_ref
    if not ref:
        st.info("Type a reference: the output the model should produce for this input.")
        return
    cfg = {"max_new_tokens": max(runs.task_max_new(model), 4)}
    with st.spinner("Teacher forcing and free running…"):
        base = runs.run_tffr(model, text, ref, runs.cfg_json(cfg))
    for w in dict.fromkeys(((base.get("tf") or {}).get("warnings") or []) + ((base.get("fr") or {}).get("warnings") or [])):
        st.warning(display.md(w))
    n = len(base["rows"])
    if n == 0:
        st.error("The reference is empty after tokenization: type a reference with at least one token.")
        return
    with c[1]:
        inject = st.selectbox("Inject a wrong token at step", ["none"] + [str(i) for i in range(n)],
                              key="inject", bind="query-params")
    with c[2]:
        wrong = st.text_input("wrong token (blank: the model's runner-up)", key="wrong", bind="query-params",
                              disabled=inject == "none")
    presenter.stepper("inject", ["none"] + [str(i) for i in range(n)], controls=box, what="position")  # ← → PgUp PgDn
    box.markdown(f"**Input:** {display.code(text)} · **reference:** {display.code(ref)} · free running produced "
                 f"**{display.code(_output(base))}**")
    div = base.get("first_divergence")
    st.markdown("Free running reproduces the reference." if div is None
                else f"Free running first leaves the reference at **t = {div}**.")
    if inject == "none":
        display.plot(charts.tffr_figure(base, title="per reference position: TF vs FR"), "tffr")
        if not url_state.presenting():
            st.caption("Top: log-prob of the reference token when the decoder is fed the reference (teacher forcing) "
                       "and when it is fed its own outputs (free running; × = already off the reference). Middle: KL "
                       "between the two next-token distributions. Bottom: distance between the decoder's hidden states.")
        return
    t = int(inject)
    if wrong.strip():
        token = wrong if runs.model_info(model)["kind"] == "lm" else wrong.strip()
        label = token
    else:
        tid, label = _runner_up(base, t)
        token = int(tid)
    forced = json.dumps({str(t): token})
    with st.spinner(f"Free running with {display.md(repr(label))} injected at step {t}…"):
        hit = runs.run_tffr(model, text, ref, runs.cfg_json(cfg), forced)
    if _output(hit) == _output(base):        # e.g. a typed token that free running produced at t anyway
        st.info(f"No disturbance: {display.md(repr(label))} is the model's own token at step {t} (free running "
                "produced it there), so both runs are the same. Type another token, or leave it blank for the runner-up.")
        display.plot(charts.tffr_figure(base, title="per reference position: TF vs FR"), "tffr")
        return
    recovered = all(r.get("fr_token") == r.get("ref_token") for r in hit["rows"][t + 1:])
    base_off = not all(r.get("fr_token") == r.get("ref_token") for r in base["rows"][t + 1:])
    cols = st.columns(2)
    with cols[0]:
        st.markdown(f"##### undisturbed\n{display.code(_output(base))}")
    with cols[1]:
        st.markdown(f"##### with {display.md(repr(label))} at step {t}\n{display.code(_output(hit))} — "
                    + ("**recovers**: every later token matches the reference" if recovered else
                       "**derails**: later tokens differ from the reference"
                       + (" (the undisturbed run's do too)" if base_off else "")))
    display.plot(charts.recovery_figure(base, hit, t, title="one wrong note: recovering or derailing?"), "recovery")
    cols = st.columns(2)
    with cols[0]:
        display.plot(charts.tffr_figure(base, title="undisturbed"), "tffr-base")
    with cols[1]:
        display.plot(charts.tffr_figure(hit, title=f"{display.label(repr(label))} injected at step {t}"),
                     "tffr-injected")


display.guarded(main)
