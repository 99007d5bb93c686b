"""Every limit seqscope enforces, in one place (docs/limits.md explains each and how to raise it).

Inputs are checked against these before any work starts: a request over a limit is refused with one
line that names the limit and how to raise it. Torch-free.
"""
from __future__ import annotations


class LimitError(ValueError):
    """A request is over one of the limits below; the message names the limit and how to raise it."""


# -- decoding requests -----------------------------------------------------------------------------
MAX_NEW_TOKENS = 4096            # GenerationConfig.max_new_tokens
MAX_BEAMS = 64                   # num_beams, num_beam_groups
MAX_MBR_SAMPLES = 128            # mbr_num_samples, num_return_sequences
MAX_INPUT_CHARS = 20_000         # one input text

# -- files -----------------------------------------------------------------------------------------
MAX_TRACE_BYTES = 50 * 1024 * 1024      # a trace file / upload
MAX_TRACE_DEPTH = 16                    # JSON nesting of a trace (the deepest field is at 8)
MAX_CONFIG_BYTES = 1 << 20              # config.json, card.json of a checkpoint; --config-json
MAX_JSON_DEPTH = 32                     # nesting of any other JSON seqscope reads
