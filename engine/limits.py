"""Every limit seqscope enforces, in one place (docs/limits.md explains each and how to raise it).

Inputs are checked against these before any work starts: a request over a limit is refused with one
line that names the limit and how to raise it. Torch-free. Any helper may ADD a constant (one line and
a comment, in its section); docs/limits.md must mention every constant (tests/test_limits.py checks).
The allowed ranges of the decoding parameters (temperature, penalties, ...) are rows of the table in
engine/decoding/fields.py (docs/decoding.md), each with its reason.
"""
from __future__ import annotations


class LimitError(ValueError):
    """A request is over one of the limits below; the message names the limit and how to raise it."""


# -- decoding requests -----------------------------------------------------------------------------
MAX_NEW_TOKENS = 4096            # GenerationConfig.max_new_tokens, min_new_tokens
MAX_BEAMS = 64                   # num_beams, num_beam_groups
MAX_MBR_SAMPLES = 128            # mbr_num_samples, num_return_sequences
MAX_DECODE_SEED = 2 ** 63 - 1    # GenerationConfig.seed (torch.Generator.manual_seed takes 64 bits)
MAX_INPUT_CHARS = 20_000         # one input text

# -- the work budget of a decoding request (engine/decoding/budget.py: one definition of "work") ----
# work = inputs x rows x steps x (1 + recorded numbers / WORK_NUMBERS_PER_UNIT + vocabulary / WORK_VOCAB_PER_UNIT)
#        + encoder attention + MBR utility pairs; one unit ~ one unrecorded token step of one row
WORK_BUDGET = 30_000             # engine.generate / generate_batch / decode (budget=, SEQSCOPE_WORK_BUDGET)
DASHBOARD_MAX_WORK = 10_000      # one run the dashboard starts (engine.work_units, the same units)
WORK_NUMBERS_PER_UNIT = 256      # recorded numbers (attention weights, hidden state, top-list entries) per unit
WORK_VOCAB_PER_UNIT = 8192       # vocabulary entries (softmax, top-k, entropy per row-step) per unit
WORK_UTILITY_TOKENS_PER_UNIT = 10  # MBR: tokens of a candidate pair a utility (chrF/BLEU) scores per unit

# -- files -----------------------------------------------------------------------------------------
MAX_TRACE_BYTES = 50 * 1024 * 1024      # a trace file / upload
MAX_TRACE_DEPTH = 16                    # JSON nesting of a trace (the deepest field is at 8)
MAX_CONFIG_BYTES = 1 << 20              # config.json, card.json of a checkpoint; --config-json
MAX_JSON_DEPTH = 32                     # nesting of any other JSON seqscope reads
MAX_DECK_BYTES = 2 * 1024 * 1024        # a talk deck file (decks/*.json, runs/decks/*.json)
MAX_DECK_VIEWS = 50                     # views in one talk deck
MAX_DECK_TITLE_CHARS = 120              # a deck's or a view's title
MAX_DECK_NOTE_CHARS = 2000              # a view's speaker note

# -- checkpoints (engine/checkpoint_config.py checks config.json against these before any tensor) ---
MAX_PARAMETERS = 100_000_000            # parameters of a seqscope model (~400 MB of float32 weights)
MAX_TOKENIZER_BYTES = 16 * 1024 * 1024  # tokenizer.json of a checkpoint
MAX_VOCAB_SIZE = 1_000_000              # model.vocab_size
MAX_MODEL_WIDTH = 65_536                # d_model, d_ff, d_emb, d_hidden, d_attn
MAX_MODEL_LAYERS = 256                  # n_layers, n_dec_layers
MAX_MODEL_CONTEXT = 65_536              # model.max_len (positions)
MAX_WEIGHTS_HEADER_BYTES = 16 * 1024 * 1024  # the JSON header of model.safetensors (tensor names, shapes)
MAX_RESUME_STATE_BYTES = 16 * 1024 * 1024    # state.json of a training run's resume state (its history)

# -- the dashboard's Hugging Face model box (dashboard/hf_picker.py) ----------------------------------
MAX_MODEL_SPEC_CHARS = 1_024           # a model folder path or cached name typed into the box
MAX_OPENED_HF_MODELS = 16              # hf: models opened from the box that the picker keeps listing

# -- command line and training options (engine/cli_args.py, TrainConfig.check) --------------------
MAX_TRAIN_BATCH = 4096                  # TrainConfig.batch_size (--batch-size)
MAX_THREADS = 256                       # --threads of train, exposure, experiment (0 = torch's default)
MAX_SEED = 2 ** 32 - 1                  # --seed of train, exposure; each of experiment --seeds (training seeds seed * 1_000_003 + step)
MAX_SCST_SAMPLES = 64                   # TrainConfig.scst_samples, mixer_samples (sampled rollouts per source)
MAX_EXPOSURE_EXAMPLES = 20_000          # exposure --n (held-out examples)
MAX_BOOTSTRAP = 2000                    # exposure --bootstrap (memory: resamples x examples x positions)
MAX_ANALYSIS_BYTES = 8 * 1024 * 1024    # a precomputed lab analysis the page reads (results/analysis/*.json)
MAX_DATA_BYTES = 16 * 1024 * 1024       # exposure --data FILE / the lab's upload: JSONL or CSV of source/reference pairs
MAX_DATA_ROWS = 20_000                  # pairs in that file (each is decoded in both modes; = MAX_EXPOSURE_EXAMPLES)
MAX_DATA_FIELD_CHARS = 20_000           # one source / reference / prompt / continuation text in it
MAX_DATA_TOKENS = 1_024                 # a reference / continuation after the model's tokenizer (positions analysed)
MAX_EXPERIMENT_SEEDS = 10               # experiment --seeds: seeds in one run (each trains / samples again)
