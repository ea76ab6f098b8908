#!/usr/bin/env bash
# The project's test command: installs what the tests need, then runs every test (slow ones included), offline.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; the browser test will be skipped"
  else
    echo "warning: chromium not found; the browser test will be skipped (apt-get install chromium)"
  fi
fi
python -m pip install -q -r requirements-test.txt
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
python -m pytest -m "slow or not slow" "$@"
