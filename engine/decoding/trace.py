"""Moved to engine.trace (the one definition of the trace)."""
# shim: removed at integration
from ..trace import FORMAT_VERSION, MAX_TRACE_BYTES, NODE_STATUS, STRATEGIES, Trace, TraceError, load_trace  # noqa: F401
