"""Train: a recipe or a task + architecture, the exposure-bias remedies (scheduled sampling, label
smoothing, truncated BPTT, a length curriculum, SCST fine-tuning, BPE vocabulary size), live loss and
validation curves, cancel; the checkpoint is written atomically into a user folder (default
runs/dashboard/<name>), never over the shipped checkpoints/. The run is an engine.TrainJob."""
from __future__ import annotations

import json

import streamlit as st

import engine
from dashboard import charts, display, runs, train_form, url_state
from dashboard.url_checks import TRAIN_SOURCES as SOURCES



def base_config(source: str) -> dict:
    """The starting config: a shipped model's recipe, or a small run of a task and an architecture."""
    if source == SOURCES[0]:
        names = list(engine.RECIPES)
        recipe = st.selectbox("Recipe", names, index=names.index("addition-gru") if "addition-gru" in names else 0,
                              key="tr_recipe", bind="query-params",
                              help="The recipe of a shipped checkpoint (engine/training/recipes.py); its steps and "
                                   "budget can be lowered below.")
        return engine.recipe_config(recipe)
    c = st.columns(2)
    task = c[0].selectbox("Task", list(engine.TASK_ARCHS), key="tr_task", bind="query-params")
    arch = c[1].selectbox("Architecture", engine.TASK_ARCHS[task], key=f"tr_arch_{task}")
    return engine.default_config(task, arch)


def job_view(job) -> None:
    """The live view of a run: progress, the training curves, evaluations, then the outcome."""
    total = int(job.config.get("steps", 1))
    last = job.steps[-1] if job.steps else {}
    step = int(last.get("step") or 0)
    if job.running:
        st.progress(min(1.0, step / max(1, total)),
                    text=f"{job.name}: step {step} / {total} · loss {charts.fmt(last.get('loss'))} · "
                         f"ε {charts.fmt(last.get('eps'))} · {charts.fmt(last.get('elapsed'), 0)} s"
                         + (" · cancelling…" if job.cancelling else ""))
    display.plot(charts.training_figure(list(job.steps), list(job.evals), title=f"{job.name}: training"), "training",
                 key="training-curve")
    if job.evals:
        st.dataframe(list(job.evals), hide_index=True, width="stretch")
    if not job.done:
        return
    if job.error:
        display.error(f"Training {job.name} failed: {job.error}")
        return
    card = job.card or {}
    folder = display.rel_path(job.out_dir / job.name)
    metrics = {k: v for k, v in (card.get("metrics") or {}).items() if isinstance(v, (int, float))}
    st.success(f"{job.name}: {card.get('stopped')}; {card.get('steps')} steps in {card.get('wall_time_s')} s. "
               f"Checkpoint saved to {display.code(folder)}.")
    if metrics:
        st.markdown("Test metrics: " + ", ".join(f"**{k}** {v}" for k, v in metrics.items()))
    if _in_trained_dir(job):
        st.markdown(f"Analyse it on the **Exposure lab** page (listed as {display.code(folder)}).")
    st.markdown(f"Open it from the sidebar's model picker, or elsewhere: "
                f"{display.code(f'python -m engine decode --model {folder} ...')}, "
                f"{display.code(f'python -m engine exposure --model {folder} --n 200')}, or pass the folder to "
                "`engine.load()`.")


def _in_trained_dir(job) -> bool:
    """The run went to runs/dashboard/, where the sidebar's model picker lists checkpoints."""
    return job.out_dir.resolve() == engine.output_folder("")


@st.fragment(run_every=1.0)
def live() -> None:
    job = engine.TrainJob.current()
    if job is None:
        return
    if job.running and st.button("Cancel training", key="tr_cancel", type="secondary",
                                 help="Stops after the current step; the best weights so far are validated and saved."):
        job.cancel()
    job_view(job)
    if job.done and not st.session_state.get(f"_tr_done_{id(job)}"):
        st.session_state[f"_tr_done_{id(job)}"] = True
        if not job.error and _in_trained_dir(job):
            runs.forget_model(f"{engine.TRAINED_DIR}/{job.name}")   # a retrained name must not show the old model
        st.rerun(scope="app")


def main() -> None:
    if not url_state.presenting():
        st.title("Train")
        st.caption("Retrain a small model with the exposure-bias remedies and watch it learn. One run at a time "
                   "on this server; the CPU is shared, so keep the steps modest.")
    source = st.radio("Start from", SOURCES, horizontal=True, key="tr_source", bind="query-params")
    cfg, out_raw = train_form.form(base_config(source))
    engine.check_name(cfg["name"])
    out_dir = engine.output_folder(out_raw)
    tc = engine.TrainConfig.from_dict(cfg)      # one-line errors for impossible combinations, before starting
    if cfg["ss_schedule"] != "none":
        xs = list(range(0, cfg["steps"] + 1, max(1, cfg["steps"] // 200)))
        st.plotly_chart(charts.schedule_figure(xs, [tc.gold_prob(i) for i in xs], cfg["ss_schedule"]), theme=None,
                        config=display.chart_config("schedule"), key="schedule")
    with st.expander("Training config (JSON) and the equivalent command"):
        st.code(json.dumps(cfg, indent=1), language="json")
        st.code(engine.cli_command(cfg, out_raw), language="bash")
    job = engine.TrainJob.current()
    busy = job is not None and job.running
    target = out_dir / cfg["name"]
    shown = display.code(display.rel_path(target))
    if job is not None and job.done and not job.error and (job.out_dir / job.name).resolve() == target.resolve():
        st.caption(f"{shown} holds the checkpoint the last run saved; training again with this name replaces it "
                   "(change the name to keep it).")
    elif target.exists() and not busy:
        st.warning(f"{shown} exists: a run started with this name and folder replaces it when it finishes.")
    if st.button("Start training", type="primary", disabled=busy, key="tr_start"):
        st.session_state["train_job"] = engine.TrainJob.start(cfg, out_dir)
    live()


if __name__ == "__main__":         # how st.Page runs a page; importing the module (a test reading a
    display.guarded(main)          # constant) runs nothing
