"""Moved to engine/training/schedules.py (issue 9)."""
# shim: removed at integration
from .training.schedules import *  # noqa: F401,F403
