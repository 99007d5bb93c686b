"""Moved to engine/decoding/generate.py (issue 9)."""
# shim: removed at integration
from .generate import generate, generate_batch  # noqa: F401
