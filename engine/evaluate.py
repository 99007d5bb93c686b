"""Moved: batching to engine/batching.py, greedy decoding and NLL to engine/training/metrics.py (issue 9)."""
# shim: removed at integration
from .batching import batches, pad_batch, seq2seq_tensors  # noqa: F401
