"""The Train page's form: the widgets that set a training config (budget, the exposure-bias remedies,
curriculum, tokenizer, SCST stage) and the output folder. What the keys mean and which values are
allowed is the engine's (engine.TrainConfig, engine.SCHEDULES); this module only draws them."""
from __future__ import annotations

import streamlit as st

import engine
from dashboard import runs


def _budget(cfg: dict) -> None:
    c = st.columns(5, vertical_alignment="bottom")   # a label that wraps keeps its box in line
    cfg["name"] = c[0].text_input("Name", value=cfg["name"], key="tr_name",
                                  help="The checkpoint folder's name (letters, digits, . _ -).").strip()
    cfg["steps"] = int(c[1].number_input("Steps", 1, 100_000, min(int(cfg.get("steps", 400)), 400), key="tr_steps"))
    cfg["eval_every"] = int(c[2].number_input("Evaluate every", 1, 100_000, min(int(cfg.get("eval_every", 100)), 100),
                                              key="tr_eval_every"))
    cfg["max_minutes"] = float(c[3].number_input("Time budget (min)", 0.1, 60.0,
                                                 min(float(cfg.get("max_minutes", 5)), 5.0), step=0.5, key="tr_minutes"))
    cfg["lr"] = float(c[4].number_input("Learning rate", 1e-6, 1.0, float(cfg.get("lr", 1e-3)), format="%.5f",
                                        key="tr_lr"))
    cfg["warmup"] = min(int(cfg.get("warmup", 0)), max(1, cfg["steps"] // 5))
    cfg["eval_examples"] = min(int(cfg.get("eval_examples", 300)), 300)
    cfg["threads"] = 1


def _scheduled_sampling(cfg: dict) -> None:
    c = st.columns(4, vertical_alignment="bottom")   # a label that wraps keeps its box in line
    schedules = list(engine.SCHEDULES)
    sched = c[0].selectbox("Scheduled sampling", schedules, index=schedules.index(cfg.get("ss_schedule", "none")),
                           key="tr_ss", help="ε_i = probability of feeding the gold token at step i (Bengio et al. "
                           "2015): linear max(ε_min, k − c·i), exponential k^i, inverse sigmoid k/(k + exp(i/k)).")
    cfg["ss_schedule"] = sched
    if sched == "none":
        for k in ("ss_k", "ss_c"):
            cfg.pop(k, None)
        return
    k_default = {"constant": 1.0, "linear": 1.0, "exponential": 0.995,
                 "inverse_sigmoid": float(max(1, cfg["steps"] // 6))}[sched]
    k = cfg.get("ss_k")                                     # a recipe's own k first
    cfg["ss_k"] = float(c[1].number_input("k", 0.0, 1e6, float(k_default if k is None else k), format="%.4f",
                                          key=f"tr_k_{sched}"))
    feed = c[3].radio("Model's token", ["sample", "argmax"], index=0 if cfg.get("ss_sample", True) else 1,
                      key="tr_ss_feed", horizontal=True, help="Fed in place of the gold token: a sample from the "
                      "model's distribution (Bengio et al. 2015, the default) or its argmax.")
    cfg["ss_sample"] = feed == "sample"
    if sched == "linear":
        c = st.columns(4, vertical_alignment="bottom")   # a label that wraps keeps its box in line
        cfg["ss_c"] = float(c[2].number_input("c (slope per step)", 0.0, 1.0, 0.75 / max(1, cfg["steps"]),
                                              format="%.6f", key="tr_c"))
        cfg["ss_eps_min"] = float(c[3].number_input("ε_min", 0.0, 1.0, 0.25, key="tr_epsmin"))


def _smoothing_and_curriculum(cfg: dict) -> None:
    c = st.columns(4, vertical_alignment="bottom")   # a label that wraps keeps its box in line
    cfg["label_smoothing"] = float(c[0].slider("Label smoothing α", 0.0, 0.5, float(cfg.get("label_smoothing", 0.0)),
                                               0.01, key="tr_ls"))
    if cfg["arch"].startswith("gru"):
        cfg["tbptt"] = int(c[1].number_input("TBPTT window L (0 = full)", 0, 64, int(cfg.get("tbptt", 0)),
                                             key="tr_tbptt",      # one line: a two-line label pushed its box down
                                             help="Truncated backpropagation through time: the GRU decoder's hidden "
                                                  "state is detached every L steps, so gradients flow back at most "
                                                  "L steps."))
    cfg["curriculum_steps"] = int(c[2].number_input("Curriculum steps (0 = off)", 0, 100_000,
                                                    int(cfg.get("curriculum_steps", 0)), key="tr_cur_steps",
                                                    help="Steps over which the longest allowed length grows."))
    cfg["curriculum_start"] = int(c[3].number_input("Curriculum start length", 0, 512,
                                                    int(cfg.get("curriculum_start", 0)), key="tr_cur_start",
                                                    disabled=cfg["curriculum_steps"] == 0))


def _tokenizer_and_stage(cfg: dict) -> None:
    c = st.columns(4, vertical_alignment="bottom")   # a label that wraps keeps its box in line
    cfg["tokenizer"] = c[0].selectbox("Tokenizer", ["char", "bpe"], key="tr_tok",
                                      index=["char", "bpe"].index(cfg.get("tokenizer", "char")))
    if cfg["tokenizer"] == "bpe":
        cfg["bpe_vocab_size"] = int(c[1].number_input("BPE vocabulary size", 8, 32_000,
                                                      int(cfg.get("bpe_vocab_size", 256)), key="tr_bpe"))
    stages = list(engine.TRAIN_STAGES)
    cfg["stage"] = c[2].selectbox("Stage", stages, index=stages.index(cfg.get("stage", "mle")), key="tr_stage",
                                  help="mle: cross-entropy (from scratch, or fine-tuning init_from); scst: "
                                       "self-critical sequence training (REINFORCE, greedy baseline); mixer: MIXER "
                                       "(Ranzato et al. 2016: the last Δ·k target tokens by REINFORCE, the rest by "
                                       "cross-entropy, k growing). scst and mixer start from init_from.")
    same = [m for m in runs.model_names(trained=False)
            if (runs.model_info(m)["task"], runs.model_info(m)["arch"]) == (cfg["task"], cfg["arch"])]
    if cfg["stage"] == "mle":                     # from scratch, or fine-tuning (a recipe's own init_from kept)
        scratch = "(from scratch)"
        opts = [scratch] + same
        start = cfg.get("init_from") if cfg.get("init_from") in same else scratch
        pick = c[3].selectbox("init_from", opts, index=opts.index(start), key=f"tr_init_mle_{cfg['name']}_{start}",
                              help="Fine-tune a shipped model of the same task and architecture instead.")
        if pick == scratch:
            cfg.pop("init_from", None)
        else:
            cfg["init_from"] = pick
        return
    if not same:
        raise ValueError(f"{cfg['stage'].upper()} fine-tunes a trained model: no shipped {cfg['arch']} model for the "
                         f"{cfg['task']} task")
    cfg["init_from"] = c[3].selectbox("init_from", same, key="tr_init",
                                      index=same.index(cfg["init_from"]) if cfg.get("init_from") in same else 0)
    if cfg["stage"] == "scst":
        cfg["scst_reward"] = st.radio("SCST reward", ["exact", "chrf"], horizontal=True, key="tr_reward")
        return
    m = st.columns(4, vertical_alignment="bottom")   # a label that wraps keeps its box in line
    cfg["mixer_delta"] = int(m[0].number_input("Δ (REINFORCE tokens added per stage)", 1, 64,
                                               int(cfg.get("mixer_delta", 2)), key="tr_mx_delta"))
    cfg["mixer_every"] = int(m[1].number_input("Steps per stage", 1, 100_000, int(cfg.get("mixer_every", 100)),
                                               key="tr_mx_every"))
    cfg["mixer_samples"] = int(m[2].number_input("Samples per source", 2, engine.MAX_SCST_SAMPLES,
                                                 int(cfg.get("mixer_samples", 4)), key="tr_mx_samples",
                                                 help="The baseline is the mean reward of the other samples."))
    cfg["mixer_reward"] = m[3].radio("MIXER reward", ["exact", "chrf"], horizontal=True, key="tr_mx_reward")


def form(cfg: dict) -> tuple[dict, str]:
    """Edit a starting config (a recipe or engine.default_config) with the page's widgets; returns the
    config and the output folder as typed."""
    _budget(cfg)
    st.markdown("##### Remedies")
    _scheduled_sampling(cfg)
    _smoothing_and_curriculum(cfg)
    _tokenizer_and_stage(cfg)
    out = st.text_input("Output folder", value=engine.TRAINED_DIR, key="tr_out",
                        help="The checkpoint is written atomically to <folder>/<name>; never into checkpoints/.")
    return cfg, out
