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
DASHBOARD_MAX_WORK = 2048        # a dashboard run: rows (beams, samples, returned sequences) x max_new_tokens

# -- files -----------------------------------------------------------------------------------------
MAX_TRACE_BYTES = 50 * 1024 * 1024      # a trace file / upload
MAX_TRACE_DEPTH = 16                    # JSON nesting of a trace (the deepest field is at 8)
MAX_CONFIG_BYTES = 1 << 20              # config.json, card.json of a checkpoint; --config-json
MAX_JSON_DEPTH = 32                     # nesting of any other JSON seqscope reads

# -- checkpoints (engine/checkpoint_config.py checks config.json against these before any tensor) ---
MAX_PARAMETERS = 100_000_000            # parameters of a seqscope model (~400 MB of float32 weights)
MAX_TOKENIZER_BYTES = 16 * 1024 * 1024  # tokenizer.json of a checkpoint
MAX_VOCAB_SIZE = 1_000_000              # model.vocab_size
MAX_MODEL_WIDTH = 65_536                # d_model, d_ff, d_emb, d_hidden, d_attn
MAX_MODEL_LAYERS = 256                  # n_layers, n_dec_layers
MAX_MODEL_CONTEXT = 65_536              # model.max_len (positions)
MAX_WEIGHTS_HEADER_BYTES = 16 * 1024 * 1024  # the JSON header of model.safetensors (tensor names, shapes)
MAX_RESUME_STATE_BYTES = 16 * 1024 * 1024    # state.json of a training run's resume state (its history)

# -- command line and training options (engine/cli_args.py, TrainConfig.check) --------------------
MAX_TRAIN_BATCH = 4096                  # TrainConfig.batch_size (--batch-size)
MAX_THREADS = 256                       # --threads of train, exposure, experiment (0 = torch's default)
MAX_SEED = 2 ** 32 - 1                  # --seed of train, exposure, experiment (training seeds seed * 1_000_003 + step)
MAX_SCST_SAMPLES = 64                   # TrainConfig.scst_samples (sampled rollouts per source)
MAX_EXPOSURE_EXAMPLES = 20_000          # exposure --n (held-out examples)
MAX_BOOTSTRAP = 2000                    # exposure --bootstrap (memory: resamples x examples x positions)
