#!/usr/bin/env bash
# The cost of drift tracking on the served rate (issue 14: at most 5 % at batch 256).
#
# Starts loanscored (release build) on a bundle with reference bins, alternately with drift
# tracking on (the default) and off (--no-drift), and drives each with loanscore-load, closed
# loop, batch 256, for ROUNDS rounds (A B A B …, so a drift of the machine's speed hits both
# sides alike). Prints each run's applications/s and p99, the medians, and the ratio of the
# medians with drift to without.
#
# usage: Bench/drift-overhead.sh BUNDLE INPUT.csv [ROUNDS] [SECONDS]
#   BUNDLE     a bundle folder with reference.json (e.g. demo/bundle after `make demo`)
#   INPUT.csv  applications to send (e.g. BUNDLE/validation/holdout.csv)
# Environment: BIN (default .build/release), PORT (7643), CONNECTIONS (4), PIPELINE (8).
set -euo pipefail
cd "$(dirname "$0")/.."

BUNDLE=${1:?usage: Bench/drift-overhead.sh BUNDLE INPUT.csv [ROUNDS] [SECONDS]}
INPUT=${2:?usage: Bench/drift-overhead.sh BUNDLE INPUT.csv [ROUNDS] [SECONDS]}
ROUNDS=${3:-5}
SECONDS_PER_RUN=${4:-10}
BIN=${BIN:-.build/release}
PORT=${PORT:-7643}
CONNECTIONS=${CONNECTIONS:-4}
PIPELINE=${PIPELINE:-8}
[ -f "$BUNDLE/reference.json" ] || { echo "error: $BUNDLE has no reference.json (retrain it with this version of loanscore-train)" >&2; exit 3; }

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
scripts/make-certs.sh "$work/certs" >/dev/null

# One measured run: Bench/served-run.sh.
. Bench/served-run.sh

with=() without=()
printf '%-6s %-14s %14s %10s\n' round drift applications/s "p99 ms"
for round in $(seq 1 "$ROUNDS"); do
    read -r rate p99 < <(served_run)
    with+=("$rate"); printf '%-6s %-14s %14s %10s\n' "$round" on "$rate" "$p99"
    read -r rate p99 < <(served_run --no-drift)
    without+=("$rate"); printf '%-6s %-14s %14s %10s\n' "$round" "off (--no-drift)" "$rate" "$p99"
done
python3 - "${with[*]}" "${without[*]}" <<'EOF'
import statistics, sys
on = [float(x) for x in sys.argv[1].split()]
off = [float(x) for x in sys.argv[2].split()]
ratios = [a / b for a, b in zip(on, off)]
print(f"\nmedian applications/s: drift on {statistics.median(on):.0f}, off {statistics.median(off):.0f}")
print(f"ratio on/off: median of the medians {statistics.median(on) / statistics.median(off):.3f}; "
      f"pair by pair min {min(ratios):.3f}, median {statistics.median(ratios):.3f}, max {max(ratios):.3f}")
print(f"cost of drift tracking: {100 * (1 - statistics.median(on) / statistics.median(off)):.1f} % of the served rate")
EOF
