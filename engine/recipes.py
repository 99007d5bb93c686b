"""Moved to engine/training/recipes.py (issue 9)."""
# shim: removed at integration
from .training.recipes import RECIPES  # noqa: F401
