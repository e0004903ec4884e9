#!/usr/bin/env bash
# Instructions per proxied send, counted by callgrind (stable on a busy
# machine, where wall-clock rates are not). Same set-up as the proxy bench:
# tollgate `--shadow`, default policy, decision log and audit on, in front
# of an nginx `return 201`. Counts every thread (request path, log writer,
# audit writer) between a warm-up and the end of a fixed-length wrk run.
#
#   benches/proxy/callgrind.sh [path/to/tollgate] [fixed|fresh] [seconds]
#
# Prints requests, total instructions and instructions per request, and
# leaves the profile in $OUT (callgrind_annotate it).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${1:-$HERE/../../target/release/tollgate}"
SCRIPT="${2:-fixed}"
SECS="${3:-10}"
OUT="${OUT:-$(mktemp -d /tmp/tollgate-callgrind.XXXXXX)}"
mkdir -p "$OUT/data"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(port); TG=$(port)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
cat > "$OUT/nginx.conf" <<NG
worker_processes 1;
pid $OUT/nginx.pid;
error_log $OUT/error.log warn;
daemon off;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP backlog=4096;
    location / { default_type application/json;
      return 201 '{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","to":"+447400123456"}'; } } }
NG
"$NGINX" -p "$OUT" -c "$OUT/nginx.conf" >/dev/null 2>&1 &
NGPID=$!
RUST_LOG=info valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" "$BIN" serve --shadow \
  --listen "127.0.0.1:$TG" --admin-listen 127.0.0.1:0 --data-dir "$OUT/data" \
  --upstream "twilio-api=http://127.0.0.1:$UP" >"$OUT/stdout.log" 2>"$OUT/stderr.log" &
TGPID=$!
trap 'kill -TERM $TGPID $NGPID 2>/dev/null || true' EXIT
for _ in $(seq 1 400); do curl -s -o /dev/null "http://127.0.0.1:$TG/" && break; sleep 0.25; done
wrk -t1 -c8 -d3s -s "$HERE/$SCRIPT.lua" "http://127.0.0.1:$TG" >/dev/null
sleep 0.5
callgrind_control -z "$TGPID" >/dev/null
wrk -t1 -c8 -d"${SECS}s" -s "$HERE/$SCRIPT.lua" "http://127.0.0.1:$TG" >"$OUT/wrk.txt"
sleep 1
callgrind_control -d "$TGPID" >/dev/null
sleep 1
kill -TERM "$TGPID"; wait "$TGPID" || true
REQ=$(grep -oP '\d+(?= requests in)' "$OUT/wrk.txt")
PROFILE=$(ls "$OUT"/callgrind.out.*.1)
# awk reads to the end: `grep -m1` would SIGPIPE the annotator and, under
# pipefail, end the script before it prints.
TOTAL=$(callgrind_annotate "$PROFILE" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",","",$1); print $1; done=1}')
echo "requests=$REQ instructions=$TOTAL per_request=$((TOTAL / REQ))"
echo "profile: $PROFILE"
