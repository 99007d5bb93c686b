"""Decoding that records every step: configuration, decoding rules, strategies, traces.

See docs/decoding.md (strategies, rule order, differences from Hugging Face) and
docs/trace-format.md (what a Trace holds)."""
from ..trace import Trace, TraceError, load_trace
from .config import GenerationConfig, RecordOptions
from .generate import generate, generate_batch
from .mbr import rerank
from .tf_fr import TFFRComparison, compare_tf_fr, teacher_forced

__all__ = ["GenerationConfig", "RecordOptions", "generate", "generate_batch", "Trace", "TraceError", "load_trace",
           "teacher_forced", "compare_tf_fr", "TFFRComparison", "rerank"]
