"""Moved to engine/decoding/rules.py."""
# shim: removed at integration
from .rules import *  # noqa: F401,F403
