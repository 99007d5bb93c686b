"""The exposure-bias lab's eight experiments: `python -m engine experiment NAME [--quick] --out FILE`.

Each experiment (one file each, registered in the order of issue 5) is a function returning a
JSON-able dict with a title, a two-sentence caption of what the literature predicts, the measured
data, and a computed verdict line saying whether this run agrees (`agrees`: true / false / null).
`quick` runs a reduced size (for tests); the full size stays within about 5 minutes on a 2-core
CPU. `ExperimentStore` keeps the results on disk (shipped and the user's runs); results are saved
atomically and render again without rerunning.
"""
from __future__ import annotations

from .registry import EXPERIMENTS, experiment, run_experiment
from .store import ExperimentStore, load_result, save_result
# importing an experiment's file registers it: in the order of issue 5
from . import tf_vs_fr, ss_schedules, recovery, beam_curse, label_smoothing, decoding, tbptt, bpe_vocab  # noqa: F401

__all__ = ["EXPERIMENTS", "experiment", "run_experiment", "ExperimentStore", "load_result", "save_result"]
