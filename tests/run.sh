#!/usr/bin/env bash
# Runs every tollgate test on a fresh Debian machine: installs what is
# missing (Debian packages, the Python venv with the official SDKs), then the
# Rust suites and the end-to-end SDK suite. The README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. Debian packages the tests use.
missing=()
command -v openssl >/dev/null || missing+=(openssl)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# The review console is tested in Debian's headless Chromium over WebDriver.
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
# Shared counters across replicas are tested against a real Redis.
command -v redis-server >/dev/null || missing+=(redis-server)
# The alert rules are checked and unit-tested with promtool.
command -v promtool >/dev/null || missing+=(prometheus)
# The official Node.js SDKs are end-to-end clients too.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. Rust: unit and integration suites (they start the real binary;
# tests/layers.rs fails on an import that points up a layer).
echo "==> cargo test"
cargo test --locked

# 3. End to end with the official SDKs (Python and Node.js).
echo "==> SDK end-to-end suite"
bash tests/e2e/setup.sh
TOLLGATE_BIN="$PWD/target/debug/tollgate" .venv/bin/python -m pytest tests/e2e -q -p no:cacheprovider
