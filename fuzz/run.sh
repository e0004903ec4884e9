#!/usr/bin/env bash
# Runs every fuzz target for a number of inputs each (default 10 M) and
# prints inputs, crashes and time per target. Not part of the test suite:
#   bash fuzz/run.sh            # 10 M inputs per target
#   bash fuzz/run.sh 200000     # a quick pass
#   TARGETS="send_bodies numbers" bash fuzz/run.sh 1000000
#   SANITIZER=none bash fuzz/run.sh  # 2-4x the inputs/s; panics and aborts
#                                    # are still caught, memory errors in
#                                    # unsafe dependency code are not
# Needs the nightly toolchain and cargo-fuzz (installed if missing). A crash
# leaves its input in fuzz/artifacts/<target>/; turn it into a regression
# test (tests/fuzz_regressions.rs) before fixing it.
set -euo pipefail
cd "$(dirname "$0")"
RUNS="${1:-10000000}"
JOBS="${JOBS:-1}"
SAN="${SANITIZER:-address}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets="${TARGETS:-route_toml policy_toml send_bodies numbers backtest_input admin_bodies shared_wire upstream_answers}"

# Seed corpora from the repository's own inputs, so the fuzzer starts from
# real route files, policies, sends and numbers rather than from nothing.
seed() {
    local t="$1" dir="corpus/$1"
    mkdir -p "$dir"
    case "$t" in
        route_toml) cp ../routes/*.toml "$dir/" ;;
        policy_toml) cp ../policies/*.toml ../tests/e2e/policy.toml "$dir/" ;;
        send_bodies) python3 - "$dir" <<'PY'
import sys, pathlib
out = pathlib.Path(sys.argv[1])
for i, body in enumerate(pathlib.Path("seeds/send_bodies.txt").read_bytes().splitlines()):
    for route in range(16):  # the first byte picks the route, the second the content type
        (out / f"seed-{i}-{route}").write_bytes(bytes([route, 1 if body.startswith(b"{") else 2]) + body)
PY
            ;;
        numbers) grep -ho '"+[0-9]*"' ../tests/e2e/e2e_numbers.py | tr -d '"' \
                    | while read -r n; do printf '%s' "$n" > "$dir/$n"; done ;;
        backtest_input) cp seeds/backtest_*.txt "$dir/" ;;
        admin_bodies) printf '{"scope":"range","value":"+4477009","action":"deny","ttl_seconds":60}' > "$dir/list"
                      printf '{"to":"+447400123456"}' > "$dir/conversion" ;;
        shared_wire|upstream_answers) : ;;
    esac
}

cargo +nightly fuzz build -O -s "$SAN" >/dev/null 2>&1 || cargo +nightly fuzz build -O -s "$SAN"
printf 'sanitizer: %s\n' "$SAN"
printf '%-18s %12s %8s %8s\n' target inputs crashes seconds
fail=0
for t in $targets; do
    seed "$t"
    start=$(date +%s)
    log="$(mktemp)"
    if cargo +nightly fuzz run -O -s "$SAN" "$t" "corpus/$t" -- -runs="$RUNS" -jobs="$JOBS" \
        -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        crashes=0
    else
        crashes=$(ls "artifacts/$t" 2>/dev/null | wc -l)
        fail=1
        tail -30 "$log" >&2
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo "?")
    printf '%-18s %12s %8s %8s\n' "$t" "$runs" "$crashes" "$(( $(date +%s) - start ))"
    rm -f "$log"
done
exit "$fail"
