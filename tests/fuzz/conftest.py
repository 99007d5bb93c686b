"""The fuzz suite's hypothesis profiles (docs/fuzzing.md).

    ci    (default) a few hundred cases in all, derandomized: the same cases on every run, so CI is
          reproducible; `OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/fuzz`
    long  >= 5,000 cases, a fresh random seed each run; by hand:
          `./run.sh test tests/fuzz --hypothesis-profile=long` (one target: tests/fuzz/test_fuzz_cli.py)

Each test asks for its own share of cases under each profile (fuzzkit.cases). No deadline (a case
may load a model); failures print the blob for @reproduce_failure. The profiles are registered here,
so pass a path inside tests/fuzz to pytest when choosing one with --hypothesis-profile (a conftest of
the given path is read before the option is applied); HYPOTHESIS_PROFILE=long works from anywhere.
"""
import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

_COMMON = dict(
    deadline=None,                 # a case may load a model or run a page: time is checked by the guards
    print_blob=True,               # a failure prints @reproduce_failure(...) to replay it exactly
    database=None,                 # nothing written into the working tree; the blob replays a failure
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),   # no explain phase:
                                   # it re-runs a failing case hundreds of times (minutes for a hang)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.large_base_example, HealthCheck.function_scoped_fixture],
)
settings.register_profile("ci", max_examples=50, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=1000, derandomize=False, **_COMMON)

# the command line's --hypothesis-profile (applied after this file is read) wins; then the environment
if settings.get_current_profile_name() == "default":
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
