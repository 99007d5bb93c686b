"""seqscope engine: models, tokenizers, tasks, training, decoding and recording."""
from .checkpoint import Bundle, CheckpointError, list_models, load

__all__ = ["load", "list_models", "Bundle", "CheckpointError"]
