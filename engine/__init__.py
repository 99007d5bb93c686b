"""seqscope engine: models, tokenizers, tasks, training, decoding and recording."""
from .checkpoint import Bundle, CheckpointError, list_models, load
from .decoding import (GenerationConfig, RecordOptions, Trace, TraceError, generate, generate_batch,
                       load_trace)

__all__ = ["load", "list_models", "Bundle", "CheckpointError",
           "GenerationConfig", "RecordOptions", "Trace", "TraceError", "generate", "generate_batch", "load_trace"]
