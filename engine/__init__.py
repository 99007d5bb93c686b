"""seqscope engine: models, tokenizers, tasks, training, decoding and recording."""
from .checkpoint import Bundle, CheckpointError, list_models, load
from .decoding import (GenerationConfig, RecordOptions, TFFRComparison, Trace, TraceError, compare_tf_fr,
                       generate, generate_batch, load_trace, rerank, teacher_forced)

__all__ = ["load", "list_models", "Bundle", "CheckpointError",
           "GenerationConfig", "RecordOptions", "Trace", "TraceError", "generate", "generate_batch", "load_trace",
           "teacher_forced", "compare_tf_fr", "TFFRComparison", "rerank"]
