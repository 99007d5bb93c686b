"""Moved to engine/training/ (issue 9); engine/__main__.py still imports main_train from here."""
# shim: removed at integration
from .training.cli import run as main_train  # noqa: F401
