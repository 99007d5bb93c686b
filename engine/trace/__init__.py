"""The trace: the one definition of what a decoding run recorded (docs/trace-format.md). Torch-free.

    schema   constants, the constructors strategies build traces with, `validate` (every field)
    records  the step records, hypotheses, beam graph and MBR section, and their checks
    checks   type and range checks of JSON values (the validator's primitives)
    io       `Trace`, saving, `load_trace` (50 MB cap, strict JSON, validated)
    view     the queries charts and the report read (steps of a hypothesis, path of a node, ...)
"""
from . import schema, view
from .checks import TraceError
from .io import MAX_TRACE_BYTES, Trace, load_trace
from .schema import FORMAT_VERSION, NODE_STATUS, STRATEGIES, validate

__all__ = ["Trace", "TraceError", "load_trace", "validate", "FORMAT_VERSION", "STRATEGIES", "NODE_STATUS",
           "MAX_TRACE_BYTES", "schema", "view"]
