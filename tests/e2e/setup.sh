#!/usr/bin/env bash
# Creates <repo>/.venv (if missing) and installs the e2e test requirements.
# Idempotent; safe to run on every test invocation.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="$REPO/.venv"
REQ="$HERE/requirements.txt"
STAMP="$VENV/.e2e-requirements.sha256"

PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null || { echo "setup.sh: $PY not found" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
        # Debian/Ubuntu ship venv separately (python3-venv / python3.X-venv).
        rm -rf "$VENV"
        if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
            ver="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq
            apt-get install -y -qq python3-venv >/dev/null \
                || apt-get install -y -qq "python${ver}-venv" >/dev/null
        fi
        "$PY" -m venv "$VENV"
    fi
fi

want="$(sha256sum "$REQ" | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
    echo "$want" > "$STAMP"
fi

# SDKs whose pins cannot share the main venv (infobip-api-python-sdk wants
# pydantic 1, vonage 4 pydantic 2) get one each: .venv-<name>, driven by
# tests/e2e/drivers/<name>_send.py as a subprocess.
for req in "$HERE"/requirements-*.txt; do
    [ -e "$req" ] || continue
    name="$(basename "$req" .txt)"; name="${name#requirements-}"
    venv="$REPO/.venv-$name"
    [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [ "$want" != "$(cat "$venv/.requirements.sha256" 2>/dev/null || true)" ]; then
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
        echo "$want" > "$venv/.requirements.sha256"
    fi
done

# The official Node.js SDKs (tests/e2e/package.json, locked).
if [ -f "$HERE/package-lock.json" ]; then
    want="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
    if [ "$want" != "$(cat "$HERE/node_modules/.lock.sha256" 2>/dev/null || true)" ]; then
        (cd "$HERE" && npm ci --silent --no-audit --no-fund --ignore-scripts)
        echo "$want" > "$HERE/node_modules/.lock.sha256"
    fi
fi

command -v openssl >/dev/null || echo "setup.sh: warning: openssl CLI not found (the e2e PKI fixture needs it)" >&2
{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } \
    || echo "setup.sh: warning: /usr/bin/chromium or /usr/bin/chromedriver missing (test_console.py needs them: apt-get install -y chromium chromium-driver; tests/run.sh installs them)" >&2
