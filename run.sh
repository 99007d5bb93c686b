#!/usr/bin/env bash
# seqscope: the two quick-start commands.
#   ./run.sh app    set up (virtualenv + pinned packages) and open the dashboard on http://localhost:8501
#   ./run.sh test   set up and run the whole test suite (installs Debian's chromium for the browser
#                   test when run as root and it is missing)
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 python3 python; do
    if command -v "$c" >/dev/null 2>&1; then PY=$c; break; fi
  done
fi
[ -n "$PY" ] || { echo "run.sh: Python 3.11 is needed (none found)" >&2; exit 1; }
"$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
  || { echo "run.sh: Python 3.11 is needed; $PY is $("$PY" --version 2>&1). Set PYTHON=/path/to/python3.11" >&2; exit 1; }

setup() {
  if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PY" -m venv .venv
  fi
  if ! cmp -s requirements.txt .venv/.requirements.installed 2>/dev/null; then
    echo "==> installing pinned packages (requirements.txt)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
    cp requirements.txt .venv/.requirements.installed
  fi
}

case "${1:-}" in
  app)
    setup
    shift
    .venv/bin/python -m dashboard.warmup "${PORT:-8501}" &   # once the server is up: run the app once, warm the tours and models
    exec .venv/bin/python -m streamlit run dashboard/app.py --server.port "${PORT:-8501}" "$@"
    ;;
  test)
    setup
    shift
    if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing Debian's chromium for the browser test"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "run.sh: could not install chromium; the browser test will say so"
    fi
    exec .venv/bin/python -m pytest -q "$@"
    ;;
  *)
    echo "usage: ./run.sh app | ./run.sh test [pytest args]" >&2
    exit 2
    ;;
esac
