"""Chart builders: pure functions from traces (docs/trace-format.md) and lab results to Plotly /
Altair figures, one module per view. No Streamlit, no torch, no model: a builder reads a trace only
through engine.trace.view, so every one is unit-tested without a browser and reused by the offline
HTML report (dashboard/report.py). Pages call them as `charts.compare_figure(...)`.
"""
from __future__ import annotations

from dashboard.charts.attention import (GRID_LAYERS_PER_PAGE, attention_entropy_figure, attention_grid, attention_heatmap,
                                        encoder_attention_heatmap)
from dashboard.charts.beam import beam_tree_figure
from dashboard.charts.compare import compare_figure
from dashboard.charts.experiments import experiment_figures
from dashboard.charts.exposure import (compounding_figure, drift_figure, exposure_recovery_figure, oracle_figure,
                                       per_position_figure, reliability_figure, sequence_rows)
from dashboard.charts.mbr import mbr_figure
from dashboard.charts.step import step_figure
from dashboard.charts.style import (BG, CHOSEN, CUT, FONT, GRID, INJECTED, INK, MIN_PX, PALETTE, STATUS_COLOURS,
                                    THEME_NAMES, WINNER, alt_finish, alt_style, current_theme, finish, fmt, plotly_config,
                                    plotly_text, set_presenting, set_theme, style)
from dashboard.charts.tffr import recovery_figure, tffr_figure
from dashboard.charts.tokens import line_px, prob_key_html, rows_needed, tokens_html
from dashboard.charts.training import schedule_figure, training_figure
# the trace queries the pages need next to the figures (defined in engine.trace.view)
from engine import trace_view as _view
attention_shape = _view.attention_shape
beam_counts = _view.beam_counts
first_divergence = _view.first_divergence
has_attention = _view.has_attention
hypothesis_steps = _view.hypothesis_steps
step_rows = _view.step_rows
token_probs = _view.token_probs

__all__ = [
    # style
    "BG", "GRID_LAYERS_PER_PAGE", "CHOSEN", "CUT", "FONT", "GRID", "INJECTED", "INK", "MIN_PX", "PALETTE", "STATUS_COLOURS", "THEME_NAMES", "WINNER",
    "alt_finish", "alt_style", "current_theme", "finish", "fmt", "plotly_config", "plotly_text", "set_presenting", "set_theme",
    "style",
    # decoding views
    "tokens_html", "prob_key_html", "rows_needed", "line_px", "compare_figure", "step_figure", "attention_heatmap",
    "attention_grid", "attention_entropy_figure", "encoder_attention_heatmap", "beam_tree_figure", "tffr_figure", "recovery_figure",
    "mbr_figure",
    # the exposure lab and training
    "per_position_figure", "reliability_figure", "exposure_recovery_figure", "compounding_figure", "drift_figure",
    "oracle_figure", "sequence_rows", "experiment_figures", "training_figure", "schedule_figure",
    # trace queries (engine.trace.view)
    "attention_shape", "beam_counts", "first_divergence", "has_attention", "hypothesis_steps", "step_rows",
    "token_probs",
]
