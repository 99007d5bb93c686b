"""Exposure bias measured on a whole dataset, batched: `python -m engine exposure --model M --n 1000 --json`.

For n held-out examples the model runs twice, in batches: teacher forced (TF: the gold prefix) and
free running (FR: greedy decoding from its own prefix; for a language model after a gold prompt;
every free run goes through engine.rollout and its special-token rule: never <pad>, <bos>, <unk>).
Every figure below is computed from the per-example, per-position arrays of these two passes:

- per position t: token error rate and reference NLL, TF vs FR, with bootstrap bands (resampled
  examples); sequence exact match (FR greedy vs TF "every step right"), chrF and BLEU (sacrebleu);
- calibration: expected calibration error (ECE) and reliability-diagram bins under TF and FR contexts;
- recovery: a wrong token injected at step t0 (the model's best non-gold token), then greedy: the share
  of examples back on the gold track / on the uninjected track against steps since the injection;
- the compounding model of the sources: c = NLL per step on the gold path, d = NLL per step off it,
  e = probability of leaving the path per step (all measured); predicted
  Delta_NLL(T) = (d - c) * sum_{t=1..T} [1 - (1 - e)^(t-1)] against the measured cumulative gap
  sum_{t<=T} (NLL_FR(t) - NLL_TF(t)), with the fit error;
- hidden-state drift: D(s) = ||h_FR - h_TF|| against steps s since the inputs first differed;
  least squares D(s) = alpha * D(s-1) + eps gives the amplification alpha (> 1: explosive, < 1:
  stable drift to the predicted steady gap eps / (1 - alpha)), compared with the measured plateau;
- for the oracle language (task `hmm`): the exact per-step KL(oracle || model) on data prefixes and on
  the model's own (sampled) prefixes, and Arora et al. (2022)'s AccErr(l) = sum_{t<=l} KL_model(t) -
  sum_{t<=l} KL_data(t) and %ExAccErr(l) = 100 * AccErr(l) / sum_{t<=l} KL_data(t).

One file per concept: passes.py (inputs, the two passes, masks), stats.py (means, bootstraps),
calibration.py, compounding.py, drift.py, recovery.py, oracle_kl.py, oracle.py (OracleLM),
analyze.py (all of it as one dict) and cli.py.
"""
from __future__ import annotations

from .analyze import analyze, summary_lines
from .calibration import ece
from .compounding import compounding_delta, fit_compounding
from .drift import drift_fit
from .oracle import OracleLM, oracle_bundle
from .oracle_kl import acc_err, emittable_logp, oracle_kl
from .passes import Inputs, make_inputs, masks, tf_fr_pass
from .oracle_exposure import oracle_calibration, oracle_exposure
from .recovery import recovery
from .shipped import checkpoint_hash, result_path, shipped_analysis
from .stats import bootstrap_mean, bootstrap_positions, masked_mean, wilson_positions

__all__ = ["analyze", "summary_lines", "ece", "compounding_delta", "fit_compounding", "drift_fit", "OracleLM",
           "acc_err", "emittable_logp", "oracle_kl", "Inputs", "make_inputs", "masks", "tf_fr_pass", "recovery",
           "bootstrap_mean", "bootstrap_positions", "masked_mean", "oracle_bundle", "oracle_calibration",
           "oracle_exposure", "checkpoint_hash", "result_path", "shipped_analysis", "wilson_positions"]
