"""The trace: the one definition of what a decoding run recorded (docs/trace-format.md). Torch-free."""
from . import view

__all__ = ["view"]
