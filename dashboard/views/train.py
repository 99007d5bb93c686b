"""Train: a recipe or a task + architecture, the exposure-bias remedies (scheduled sampling, label
smoothing, truncated BPTT, a length curriculum, SCST fine-tuning, BPE vocabulary size), live loss and
validation curves, cancel; the checkpoint is written atomically into a user folder (default
runs/dashboard/<name>), never over the shipped checkpoints/."""
from __future__ import annotations

import json
import re
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import streamlit as st

from dashboard import lab_charts as lc
from dashboard import display, runs, url_state

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_OUT = "runs/dashboard"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SOURCES = ["recipe", "task + architecture"]
TASK_ARCHS = {"addition": ["gru-attn", "gru-noattn", "transformer"], "dates": ["gru-attn", "gru-noattn", "transformer"],
              "hmm": ["gpt"], "text": ["gpt"]}
# small models that train in a minute or two on a shared 2-core CPU
ARCH_MODELS = {
    "gru-attn": {"d_emb": 32, "d_hidden": 64, "d_attn": 32, "dropout": 0.0, "max_len": 64},
    "gru-noattn": {"d_emb": 32, "d_hidden": 96, "dropout": 0.0, "max_len": 64},
    "transformer": {"d_model": 64, "n_layers": 2, "n_dec_layers": 2, "n_heads": 4, "d_ff": 256, "dropout": 0.0,
                    "max_len": 64, "tie_embeddings": True},
    "gpt": {"d_model": 64, "n_layers": 2, "n_heads": 4, "d_ff": 256, "dropout": 0.0, "max_len": 64},
}
SCHEDULES = ["none", "constant", "linear", "exponential", "inverse_sigmoid"]


@dataclass
class Job:
    """A training run in a background thread; the page polls it. One at a time per server."""
    name: str
    config: dict
    out_dir: Path
    steps: list = field(default_factory=list)
    evals: list = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    card: Optional[dict] = None
    error: Optional[str] = None
    started: float = field(default_factory=time.time)
    thread: Optional[threading.Thread] = None

    def callback(self, info: dict):
        if "eval" in info:
            self.evals.append(dict(info["eval"], step=info["step"]))
            return None
        self.steps.append({k: info.get(k) for k in ("step", "loss", "eps", "elapsed")})
        return False if self.cancel.is_set() else None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


@st.cache_resource
def registry() -> dict:
    """Process-wide: the current job (so two sessions do not train at once on the shared CPU)."""
    return {"job": None, "lock": threading.Lock()}


def _run(job: Job) -> None:
    from engine.train import TrainConfig, train
    try:
        cfg = TrainConfig.from_dict(job.config)
        job.card = train(cfg, out_dir=job.out_dir, progress=False, callback=job.callback,
                         command="dashboard Train page: " + json.dumps(job.config, sort_keys=True))
    except Exception as e:  # noqa: BLE001 - shown on the page as one line
        job.error = display.one_line(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {display.one_line(e)}"
        import logging
        logging.getLogger("seqscope.dashboard").error("training failed\n%s", traceback.format_exc())
    finally:
        job.done = True


def start(config: dict, out_dir: Path) -> Job:
    from engine.train import TrainConfig
    TrainConfig.from_dict(config)                   # one-line ValueError before any thread starts
    reg = registry()
    with reg["lock"]:
        cur = reg["job"]
        if cur is not None and cur.running:
            raise ValueError(f"a training run ({cur.name}) is already in progress on this server: cancel it first")
        job = Job(config["name"], config, out_dir)
        job.thread = threading.Thread(target=_run, args=(job,), name=f"train-{job.name}", daemon=True)
        reg["job"] = job
        st.session_state["train_job"] = job
        job.thread.start()
    return job


def out_folder(raw: str) -> Path:
    raw = (raw or DEFAULT_OUT).strip()
    p = Path(raw)
    p = p if p.is_absolute() else ROOT / p
    p = p.resolve()
    shipped = (ROOT / "checkpoints").resolve()
    if p == shipped or shipped in p.parents:
        raise ValueError("the shipped checkpoints/ folder is read-only here: choose another output folder "
                         f"(default {DEFAULT_OUT})")
    return p


# -- the form ----------------------------------------------------------------------------------

def base_config(source: str) -> dict:
    from engine.recipes import RECIPES
    if source == SOURCES[0]:
        names = list(RECIPES)
        recipe = st.selectbox("Recipe", names, index=names.index("addition-gru") if "addition-gru" in names else 0,
                              key="tr_recipe", bind="query-params",
                              help="The recipe of a shipped checkpoint (engine/recipes.py); its steps and budget "
                                   "can be lowered below.")
        cfg = json.loads(json.dumps(RECIPES[recipe]))
        cfg["name"] = f"{recipe}-dash"
        return cfg
    c = st.columns(2)
    with c[0]:
        task = st.selectbox("Task", list(TASK_ARCHS), key="tr_task", bind="query-params")
    with c[1]:
        arch = st.selectbox("Architecture", TASK_ARCHS[task], key=f"tr_arch_{task}")
    cfg = {"name": f"{task}-{arch}-dash", "task": task, "arch": arch, "tokenizer": "char", "steps": 400,
           "batch_size": 64, "lr": 3e-3 if arch.startswith("gru") else 1e-3, "warmup": 40, "eval_every": 100,
           "eval_examples": 300, "patience": 100, "max_minutes": 5.0, "model": dict(ARCH_MODELS[arch])}
    if task == "text":
        cfg.update(tokenizer="bpe", bpe_vocab_size=512, lm_mode="stream", block_size=64, batch_size=16)
    if task == "addition":
        cfg["model"]["max_len"] = 24
    return cfg


def form(cfg: dict) -> tuple[dict, str]:
    c = st.columns(5)
    cfg["name"] = c[0].text_input("Name", value=cfg["name"], key="tr_name",
                                  help="The checkpoint folder's name (letters, digits, . _ -).").strip()
    cfg["steps"] = int(c[1].number_input("Steps", 1, 100_000, min(int(cfg.get("steps", 400)), 400), key="tr_steps"))
    cfg["eval_every"] = int(c[2].number_input("Evaluate every", 1, 100_000, min(int(cfg.get("eval_every", 100)), 100),
                                              key="tr_eval_every"))
    cfg["max_minutes"] = float(c[3].number_input("Time budget (min)", 0.1, 60.0, min(float(cfg.get("max_minutes", 5)), 5.0),
                                                 step=0.5, key="tr_minutes"))
    cfg["lr"] = float(c[4].number_input("Learning rate", 1e-6, 1.0, float(cfg.get("lr", 1e-3)), format="%.5f", key="tr_lr"))
    cfg["warmup"] = min(int(cfg.get("warmup", 0)), max(1, cfg["steps"] // 5))
    cfg.setdefault("eval_examples", 300)
    cfg["eval_examples"] = min(int(cfg["eval_examples"]), 300)
    cfg["threads"] = 1
    st.markdown("##### Remedies")
    c = st.columns(4)
    sched = c[0].selectbox("Scheduled sampling", SCHEDULES, index=SCHEDULES.index(cfg.get("ss_schedule", "none")),
                           key="tr_ss", help="ε_i = probability of feeding the gold token at step i (Bengio et al. 2015): "
                                             "linear max(ε_min, k − c·i), exponential k^i, inverse sigmoid k/(k + exp(i/k)).")
    cfg["ss_schedule"] = sched
    if sched != "none":
        k_default = {"constant": 1.0, "linear": 1.0, "exponential": 0.995, "inverse_sigmoid": float(max(1, cfg["steps"] // 6))}
        k = cfg.get("ss_k") if cfg.get("ss_k") is not None and sched == cfg.get("ss_schedule") else k_default[sched]
        cfg["ss_k"] = float(c[1].number_input("k", 0.0, 1e6, float(k_default[sched] if k is None else k), format="%.4f",
                                              key=f"tr_k_{sched}"))
        if sched == "linear":
            cfg["ss_c"] = float(c[2].number_input("c (slope per step)", 0.0, 1.0, 0.75 / max(1, cfg["steps"]),
                                                  format="%.6f", key="tr_c"))
            cfg["ss_eps_min"] = float(c[3].number_input("ε_min", 0.0, 1.0, 0.25, key="tr_epsmin"))
    else:
        for k in ("ss_k", "ss_c"):
            cfg.pop(k, None)
    c = st.columns(4)
    cfg["label_smoothing"] = float(c[0].slider("Label smoothing α", 0.0, 0.5, float(cfg.get("label_smoothing", 0.0)),
                                               0.01, key="tr_ls"))
    if cfg["arch"].startswith("gru"):
        cfg["tbptt"] = int(c[1].number_input("Truncated BPTT window L (0 = full)", 0, 64, int(cfg.get("tbptt", 0)),
                                             key="tr_tbptt"))
    cfg["curriculum_steps"] = int(c[2].number_input("Curriculum steps (0 = off)", 0, 100_000,
                                                    int(cfg.get("curriculum_steps", 0)), key="tr_cur_steps",
                                                    help="Steps over which the longest allowed length grows."))
    cfg["curriculum_start"] = int(c[3].number_input("Curriculum start length", 0, 512, int(cfg.get("curriculum_start", 0)),
                                                    key="tr_cur_start", disabled=cfg["curriculum_steps"] == 0))
    c = st.columns(4)
    tokenizer = c[0].selectbox("Tokenizer", ["char", "bpe"], index=["char", "bpe"].index(cfg.get("tokenizer", "char")),
                               key="tr_tok")
    cfg["tokenizer"] = tokenizer
    if tokenizer == "bpe":
        cfg["bpe_vocab_size"] = int(c[1].number_input("BPE vocabulary size", 8, 32_000, int(cfg.get("bpe_vocab_size", 256)),
                                                      key="tr_bpe"))
    stage = c[2].selectbox("Stage", ["mle", "scst"], index=["mle", "scst"].index(cfg.get("stage", "mle")), key="tr_stage",
                           help="scst: self-critical sequence training (REINFORCE, greedy baseline) from init_from.")
    cfg["stage"] = stage
    if stage == "scst":
        same = [m for m in runs.model_names(trained=False) if runs.model_info(m)["task"] == cfg["task"]
                and runs.model_info(m)["arch"] == cfg["arch"]]
        if not same:
            raise ValueError(f"SCST fine-tunes a trained model: no shipped {cfg['arch']} model for the {cfg['task']} task")
        cfg["init_from"] = c[3].selectbox("init_from", same, key="tr_init")
        cfg["scst_reward"] = st.radio("SCST reward", ["exact", "chrf"], horizontal=True, key="tr_reward")
    else:
        cfg.pop("init_from", None)
    out = st.text_input("Output folder", value=DEFAULT_OUT, key="tr_out",
                        help="The checkpoint is written atomically to <folder>/<name>; never into checkpoints/.")
    return cfg, out


# -- live view ---------------------------------------------------------------------------------

def job_view(job: Job) -> None:
    total = int(job.config.get("steps", 1))
    last = job.steps[-1] if job.steps else {}
    step = int(last.get("step") or 0)
    frac = min(1.0, step / max(1, total))
    if job.running:
        st.progress(frac, text=f"{job.name}: step {step} / {total} · loss {lc.fmt(last.get('loss'))} · "
                               f"ε {lc.fmt(last.get('eps'))} · {lc.fmt(last.get('elapsed'), 0)} s"
                               + (" · cancelling…" if job.cancel.is_set() else ""))
    display.plot(lc.training_figure(list(job.steps), list(job.evals), title=f"{job.name}: training"), "training",
               key="training-curve")
    if job.evals:
        st.dataframe(list(job.evals), hide_index=True, width="stretch")
    if job.done:
        if job.error:
            st.error(f"Training {job.name} failed: {job.error}")
            return
        card = job.card or {}
        folder = job.out_dir / job.name
        metrics = {k: v for k, v in (card.get("metrics") or {}).items() if isinstance(v, (int, float))}
        st.success(f"{job.name}: {card.get('stopped')}; {card.get('steps')} steps in {card.get('wall_time_s')} s. "
                   f"Checkpoint saved to `{_rel(folder)}`.")
        if metrics:
            st.markdown("Test metrics: " + ", ".join(f"**{k}** {v}" for k, v in metrics.items()))
        if folder.parent.resolve() == (ROOT / DEFAULT_OUT).resolve():
            st.markdown(f"Analyse it on the **Exposure lab** page (listed as `{_rel(folder)}`).")
        st.markdown("Open it from the sidebar's model picker, or elsewhere: `python -m engine decode --model " + _rel(folder) + " ...`, "
                    "`python -m engine exposure --model " + _rel(folder) + " --n 200`, or pass the folder to "
                    "`engine.load()`.")


CLI_KEYS = ("steps", "batch_size", "lr", "seed", "max_minutes", "label_smoothing", "eval_every", "patience",
            "tokenizer", "bpe_vocab_size", "threads", "warmup", "ss_schedule", "ss_k", "ss_c", "ss_eps_min", "tbptt",
            "curriculum_steps", "curriculum_start", "init_from", "stage", "scst_reward", "scst_samples",
            "length_buckets")


def cli_command(cfg: dict, out: str) -> str:
    """The `python -m engine train` command line of this config (its CLI options; no eval_examples)."""
    import shlex
    parts = ["python -m engine train", f"--name {shlex.quote(cfg['name'])}", f"--task {cfg['task']}",
             f"--arch {cfg['arch']}", f"--model-json {shlex.quote(json.dumps(cfg.get('model', {})))}"]
    for k in CLI_KEYS:
        if k in cfg and cfg[k] is not None and cfg[k] != "":
            parts.append(f"--{k.replace('_', '-')} {shlex.quote(str(cfg[k]))}")
    parts.append(f"--out {shlex.quote(out or DEFAULT_OUT)}")
    return " \\\n  ".join(parts)


def _rel(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


@st.fragment(run_every=1.0)
def live() -> None:
    job: Optional[Job] = registry()["job"]
    if job is None:
        return
    if job.running and st.button("Cancel training", key="tr_cancel", type="secondary",
                                 help="Stops after the current step; the best weights so far are validated and saved."):
        job.cancel.set()
    job_view(job)
    if job.done and not st.session_state.get(f"_tr_done_{id(job)}"):
        st.session_state[f"_tr_done_{id(job)}"] = True
        if not job.error and (job.out_dir / job.name).parent.resolve() == (ROOT / DEFAULT_OUT).resolve():
            runs.forget_model(f"{DEFAULT_OUT}/{job.name}")   # a retrained name must not show the old model
        st.rerun(scope="app")


def main() -> None:
    if not url_state.presenting():
        st.title("Train")
        st.caption("Retrain a small model with the exposure-bias remedies and watch it learn. One run at a time "
                   "on this server; the CPU is shared, so keep the steps modest.")
    source = st.radio("Start from", SOURCES, horizontal=True, key="tr_source", bind="query-params")
    cfg = base_config(source)
    cfg, out_raw = form(cfg)
    if not NAME_RE.match(cfg["name"]):
        raise ValueError(f"invalid name {cfg['name']!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    out_dir = out_folder(out_raw)
    from engine.train import TrainConfig
    tc = TrainConfig.from_dict(cfg)      # one-line errors for impossible combinations, before starting
    if cfg["ss_schedule"] != "none":
        xs = list(range(0, cfg["steps"] + 1, max(1, cfg["steps"] // 200)))
        st.plotly_chart(lc.schedule_figure(xs, [tc.gold_prob(i) for i in xs], cfg["ss_schedule"]), theme=None,
                        config=display.chart_config("schedule"), key="schedule")
    with st.expander("Training config (JSON) and the equivalent command"):
        st.code(json.dumps(cfg, indent=1), language="json")
        st.code(cli_command(cfg, out_raw), language="bash")
    job: Optional[Job] = registry()["job"]
    busy = job is not None and job.running
    target = out_dir / cfg["name"]
    if target.exists() and not busy:
        st.warning(f"`{_rel(target)}` exists and will be replaced when this run finishes.")
    if st.button("Start training", type="primary", disabled=busy, key="tr_start"):
        start(cfg, out_dir)
    live()


display.guarded(main)
