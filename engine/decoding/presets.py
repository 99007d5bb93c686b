"""Named decoding strategies: preset name -> `GenerationConfig` overrides (Hugging Face names).

The dashboard offers them by name (a link stores the name, so a preset must keep its meaning) and
the lab's decoding experiment runs several of them. Sampling presets carry a seed so that a link
reproduces a view; "pure sampling" is ancestral sampling with no rule (Holtzman et al. 2020's
baseline). `max_new_tokens` is not set here: the caller gives the task's budget.
"""
from __future__ import annotations

from typing import Any

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
    "pure sampling": {"do_sample": True, "seed": 0},
}
