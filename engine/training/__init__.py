"""Training: one concept per file.

config.py TrainConfig (+ CLI_KEYS) · data.py Data · schedules.py the scheduled-sampling decays ·
scheduled_sampling.py mixing the model's tokens into the decoder input · losses.py · scst.py
self-critical fine-tuning · mixer.py MIXER (Ranzato et al. 2016) · remedies.py measuring a remedy against
its base and a control · loop.py train / fit / validate · resume.py · recipes.py the shipped
recipes · metrics.py the model card's metrics · job.py TrainJob (a background run) and the
architecture catalogue · cli.py `python -m engine train`.
"""
from .config import CLI_KEYS, TrainConfig
from .data import Data
from .job import (ARCH_MODELS, TASK_ARCHS, TRAINED_DIR, TrainJob, check_name, cli_command, default_config,
                  output_folder, recipe_config, trained_models)
from .losses import lm_loss, seq2seq_loss
from .loop import fit, lr_at, train, train_step, validate
from .recipes import RECIPES, recipe

__all__ = ["ARCH_MODELS", "CLI_KEYS", "Data", "RECIPES", "TASK_ARCHS", "TRAINED_DIR", "TrainConfig", "TrainJob",
           "check_name", "cli_command", "default_config", "fit", "lm_loss", "lr_at", "output_folder", "recipe",
           "recipe_config", "seq2seq_loss", "train", "train_step", "trained_models", "validate"]
