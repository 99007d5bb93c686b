"""The exposure lab's chart builders, now in dashboard.charts (exposure, experiments, training)."""
# shim: removed at integration
from dashboard.charts.experiments import experiment_figures  # noqa: F401
from dashboard.charts.exposure import (compounding_figure, drift_figure, oracle_figure,  # noqa: F401
                                       per_position_figure, reliability_figure, sequence_rows)
from dashboard.charts.exposure import exposure_recovery_figure as recovery_figure  # noqa: F401
from dashboard.charts.style import fmt  # noqa: F401
from dashboard.charts.training import schedule_figure, training_figure  # noqa: F401
