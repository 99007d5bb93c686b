"""Moved to engine/training/ (issue 9)."""
# shim: removed at integration
from .training import Data, TrainConfig, lm_loss, lr_at, seq2seq_loss, train  # noqa: F401
from .training.cli import run as main_train  # noqa: F401
