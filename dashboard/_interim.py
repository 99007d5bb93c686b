"""The decoding presets, on their way to engine.PRESETS (engine/decoding/presets.py): kept here only
until that lands; deleted then."""
from __future__ import annotations

from typing import Any

# Hugging Face names and semantics. Sampling presets carry a seed so that a link reproduces a view.
PRESETS: dict[str, dict[str, Any]] = {
    "greedy": {},
    "beam 4": {"num_beams": 4},
    "beam 4 + length penalty": {"num_beams": 4, "length_penalty": 2.0},
    "sampling T=0.7": {"do_sample": True, "temperature": 0.7, "seed": 0},
    "top-k 40": {"do_sample": True, "top_k": 40, "seed": 0},
    "top-p 0.9": {"do_sample": True, "top_p": 0.9, "seed": 0},
    "min-p 0.1": {"do_sample": True, "min_p": 0.1, "seed": 0},
    "typical 0.9": {"do_sample": True, "typical_p": 0.9, "seed": 0},
    "repetition penalty 1.3": {"repetition_penalty": 1.3},
    "no-repeat-ngram 3": {"no_repeat_ngram_size": 3},
    "diverse beam": {"num_beams": 4, "num_beam_groups": 2, "diversity_penalty": 1.0, "num_return_sequences": 4},
    "MBR": {"mbr": True, "do_sample": True, "mbr_num_samples": 16, "seed": 0},
}
