"""Compare decoders (home page): 2-4 strategies side by side on one model and input."""
from __future__ import annotations

import json

import streamlit as st

import engine
from dashboard import charts, display, runs, sidebar, url_state

# Every GenerationConfig field, with the widget that edits it: (name, kind, help)
FIELDS = [
    ("max_new_tokens", "int", "at most this many generated tokens"),
    ("min_new_tokens", "int", "<eos> is forbidden before this many tokens"),
    ("do_sample", "bool", "sample instead of taking the argmax"),
    ("temperature", "float", "divide the logits by T before the softmax"),
    ("top_k", "optint", "keep only the k most probable tokens (blank: off)"),
    ("top_p", "float", "nucleus: the smallest set with total probability ≥ p"),
    ("min_p", "optfloat", "drop tokens below min_p × the top probability (blank: off)"),
    ("typical_p", "float", "locally typical sampling mass"),
    ("epsilon_cutoff", "float", "drop tokens with probability below ε"),
    ("repetition_penalty", "float", "HF multiplicative penalty on tokens already generated (>1 discourages)"),
    ("additive_repetition_penalty", "float", "log p − λ·1[y in prefix] (the sources' form)"),
    ("no_repeat_ngram_size", "int", "forbid repeating any n-gram of this size"),
    ("num_beams", "int", "beam width (1: no beam search)"),
    ("num_beam_groups", "int", "diverse beam search groups"),
    ("diversity_penalty", "float", "Hamming diversity penalty between groups"),
    ("length_penalty", "float", "score = sum log p / length^length_penalty"),
    ("early_stopping", "bool", "stop when num_beams hypotheses are finished"),
    ("num_return_sequences", "int", "how many hypotheses to return"),
    ("seed", "optint", "random seed for sampling (blank: random)"),
    ("mbr", "bool", "minimum Bayes risk decoding"),
    ("mbr_num_samples", "int", "MBR candidates / pseudo-references"),
    ("mbr_source", "choice:samples,nbest", "where the MBR candidates come from"),
    ("mbr_utility", "choice:chrf,bleu", "the MBR utility (sacrebleu)"),
]

TOURS = [
    ("One wrong note", "views/tffr.py",
     {"model": "dates-gru-attn", "input": "the third of march, two thousand twenty-one", "inject": "3", "wrong": "9"},
     "Inject a wrong digit into a date and watch the model recover or derail."),
    ("Greedy loops vs nucleus sampling", "views/compare.py",
     {"model": "text-gpt", "input": "The default value of", "s": ["greedy", "top-p 0.9", "repetition penalty 1.3"]},
     "Greedy decoding repeats itself on a language model; top-p and a repetition penalty do not."),
    ("The beam grows a tree", "views/beam.py",
     {"model": "dates-transformer", "input": "Wed 3 Mar 21", "beams": "8", "reveal": "3"},
     "Eight beams, every candidate kept, finished or pruned; move the step slider to grow it."),
    ("Where the model looks", "views/attention.py",
     {"model": "dates-gru-attn", "input": "the third of march, two thousand twenty-one"},
     "Cross-attention jumps to the year first, then the month, then the day."),
]


def _defaults() -> dict:
    try:
        return engine.GenerationConfig().to_dict()
    except Exception:  # noqa: BLE001 - a required field without default: use the presets' base
        return {"max_new_tokens": 32}


def _apply_custom(slot: str, model: str) -> None:
    key = url_state.CUSTOM_KEYS[slot]
    defaults = _defaults()
    out = {}
    for name, kind, _ in FIELDS:
        v = st.session_state.get(f"edit_{key}.{name}")
        if kind in ("optint", "optfloat"):
            v = str(v or "").strip()
            if not v:
                v = None
            else:
                try:
                    v = int(v) if kind == "optint" else float(v)
                except ValueError:
                    st.session_state[f"_edit_err_{key}"] = f"{name}: {v!r} is not a number"
                    return
        if name == "max_new_tokens" or v != defaults.get(name):
            out[name] = v
    try:
        engine.GenerationConfig.from_dict(out)
    except (ValueError, TypeError) as e:
        st.session_state[f"_edit_err_{key}"] = display.one_line(e)
        return
    st.session_state[f"_edit_err_{key}"] = ""
    url_state.set_shared(key, json.dumps(out, separators=(",", ":")))
    chosen = list(url_state.shared("s") or [])
    if slot not in chosen and len(chosen) < 4:
        url_state.set_shared("s", chosen + [slot])


def custom_editor(model: str) -> None:
    defaults = _defaults()
    tabs = st.tabs(url_state.CUSTOM)
    for slot, tab in zip(url_state.CUSTOM, tabs):
        key = url_state.CUSTOM_KEYS[slot]
        with tab:
            try:
                current = sidebar.config_for(slot, model)
            except ValueError as e:
                st.error(display.one_line(e))
                current = {"max_new_tokens": runs.task_max_new(model)}
            with st.form(f"form_{key}"):
                cols = st.columns(4)
                for i, (name, kind, help_) in enumerate(FIELDS):
                    wkey = f"edit_{key}.{name}"
                    val = current.get(name, defaults.get(name))
                    with cols[i % 4]:
                        if kind == "bool":
                            st.session_state.setdefault(wkey, bool(val))
                            st.checkbox(name, key=wkey, help=help_)
                        elif kind == "int":
                            st.session_state.setdefault(wkey, int(val if val is not None else 0))
                            st.number_input(name, key=wkey, step=1, min_value=0, help=help_)
                        elif kind == "float":
                            st.session_state.setdefault(wkey, float(val if val is not None else 0.0))
                            st.number_input(name, key=wkey, step=0.05, format="%.3f", help=help_)
                        elif kind in ("optint", "optfloat"):
                            st.session_state.setdefault(wkey, "" if val is None else str(val))
                            st.text_input(name, key=wkey, help=help_, placeholder="off")
                        else:
                            opts = kind.split(":", 1)[1].split(",")
                            st.session_state.setdefault(wkey, val if val in opts else opts[0])
                            st.selectbox(name, opts, key=wkey, help=help_)
                st.form_submit_button(f"Apply {slot}", on_click=_apply_custom, args=(slot, model), type="primary")
            err = st.session_state.get(f"_edit_err_{key}")
            if err:
                st.error(err)


def _start_tour(params: dict) -> None:
    """A tour on this page: set the shared (URL-bound) controls; the URL follows."""
    url_state.set_shared("model", params["model"])
    url_state.set_shared("input", params.get("input", ""))
    if "s" in params:
        url_state.set_shared("s", list(params["s"]))


def tours() -> None:
    cols = st.columns(len(TOURS))
    for col, (label, page, params, blurb) in zip(cols, TOURS):
        with col:
            if page == "views/compare.py":
                st.button(label, icon=":material/movie:", on_click=_start_tour, args=(params,), key=f"tour_{label}",
                          type="tertiary")
            else:
                st.page_link(display.page_ref(page), label=label, icon=":material/movie:", query_params=params)
            st.caption(blurb)


def render_outputs(traces: dict[str, dict], big: bool) -> None:
    cols = st.columns(len(traces))
    for col, (name, tr) in zip(cols, traces.items()):
        with col:
            st.markdown(f"#### {name}")
            hyps = tr.get("hypotheses") or []
            if not hyps:
                st.warning("no hypothesis")
                continue
            h = hyps[0]
            st.html(charts.tokens_html(charts.token_probs(tr), font_size=24 if big else 18))
            st.caption(f"score (sum log p) **{display.fmt_score(h.get('score'))}** · normalised "
                       f"**{display.fmt_score(h.get('normalized_score'))}** · {len(h.get('token_ids') or [])} tokens"
                       + (" · finished" if h.get("finished") else " · not finished (length cap)")
                       + f" · {tr.get('timing', {}).get('total_s', 0) * 1000:.0f} ms")
            if len(hyps) > 1:
                with st.expander(f"all {len(hyps)} returned hypotheses"):
                    st.dataframe([{"text": x["text"], "score": x.get("score"),
                                   "normalised": x.get("normalized_score"), "finished": x["finished"]}
                                  for x in hyps], hide_index=True)


def main() -> None:
    model, text, strategies = sidebar.current_model(), sidebar.current_input(), sidebar.current_strategies()
    info = runs.model_info(model)
    big = url_state.presenting()
    if not big:
        st.title("Compare decoders")
        st.caption(f"**{model}** ({info['kind']}, {info['arch']}) · {info['card'].get('task_description') or ''}")
        with st.expander("Tours: curated views, one link each", expanded=False):
            tours()
        with st.expander("Set strategies by hand (custom A / custom B: every GenerationConfig field)"):
            custom_editor(model)
    st.markdown(f"**Input:** `{text}`")
    if len(strategies) < 1:
        st.info("Pick two to four strategies in the sidebar.")
        return
    traces, errors = sidebar.run_strategies(model, text, strategies)
    for s, msg in errors.items():
        st.error(f"{s}: {msg}")
    if not traces:
        return
    seen = []
    for tr in traces.values():
        for w in tr.get("warnings") or []:
            if w not in seen:
                seen.append(w)
                st.warning(w)
    render_outputs(traces, big)
    div = charts.first_divergence(traces)
    if len(traces) > 1:
        st.markdown("**The strategies agree on every token.**" if div is None else
                    f"**The strategies first part ways at step {div}.**")
    display.plot(charts.compare_figure(traces, title="Per step: chosen token's probability and entropy"), "compare")
    for name, tr in traces.items():
        fig = charts.mbr_figure(tr, title=f"{name}: MBR utility matrix (chosen candidate outlined)")
        if fig is not None:
            display.plot(fig, f"mbr-{name}")


display.guarded(main)
