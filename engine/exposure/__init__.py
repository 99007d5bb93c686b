"""Exposure bias measured on a whole dataset, batched: `python -m engine exposure --model M --n 1000 --json`.

For n held-out examples the model runs twice, in batches: teacher forced (TF: the gold prefix) and
free running (FR: greedy decoding from its own prefix; for a language model after a gold prompt;
every free run goes through engine.rollout and its special-token rule: never <pad>, <bos>, <unk>).
Every figure below is computed from the per-example, per-position arrays of these two passes:

- per position t: token error rate (Wilson 95% intervals) and reference NLL (95% bootstrap bands over
  examples, engine.stats.N_BOOT resamples, NaN-aware), TF vs FR, with the examples n per position;
  sequence exact match (FR greedy, Wilson interval), chrF and BLEU (sacrebleu);
- calibration: expected calibration error (ECE) and reliability-diagram bins under TF and FR contexts;
- recovery: a wrong token injected at step t0 (the model's best non-gold token), then greedy: the share
  of examples back on the gold track / on the uninjected track against steps since the injection;
- the compounding model of the sources: c = NLL per step on the gold path, d = NLL per step off it,
  e = probability of leaving the path per step (all measured); predicted
  Delta_NLL(T) = (d - c) * sum_{t=1..T} [1 - (1 - e)^(t-1)] against the measured cumulative gap
  sum_{t<=T} (NLL_FR(t) - NLL_TF(t)), with the fit error;
- hidden-state drift: D(s) = ||h_FR - h_TF|| against steps s since the inputs first differed;
  least squares D(s) = alpha * D(s-1) + eps gives the amplification alpha with a bootstrap interval; the
  regime (explosive / stable drift to eps / (1 - alpha)) only when the interval supports it and the
  iterated fit stays >= 0, else "undetermined";
- for the oracle language (task `hmm`), where the TF-vs-FR figures against a sampled gold token are not
  exposure bias: the exact per-step KL(oracle || model) on data prefixes and on the model's own
  (sampled) prefixes over several sampling seeds, Arora et al. (2022)'s AccErr(l) = sum_{t<=l}
  KL_model(t) - sum_{t<=l} KL_data(t) and %ExAccErr(l) = 100 * AccErr(l) / sum_{t<=l} KL_data(t) with t
  intervals over the seeds and a verdict sentence, and ECE / expected NLL against the oracle.

One file per concept: passes.py (inputs, the two passes, masks), stats.py (means, bootstraps, Wilson
per position), calibration.py, compounding.py, drift.py, recovery.py, oracle_kl.py (one seed),
oracle_exposure.py (seeds, intervals, verdict, calibration against the oracle), oracle.py (OracleLM,
oracle_bundle), shipped.py (precomputed analyses), user_data.py (the user's own JSONL / CSV pairs, checked
row by row before any work), analyze.py (all of it as one dict) and cli.py.
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
