#!/usr/bin/env bash
# Warm start: the latency of a fresh loanscored from its first second after /ready, against
# the same server a little later. Open loop, single applications, durable audit log.
#
#   Bench/warm-start.sh BUNDLE CERTS_DIR INPUT_CSV [STARTS] [-- extra loanscored flags]
#
# For each of STARTS (default 3) fresh servers: start, wait for /ready, then at once
# loanscore-load --rate 2000 --batch 1 --connections 8 --duration 10 --warmup 0 ("cold"),
# then the same again ("warm"), then a reload and the same again ("after reload").
# Prints one line per run: p50, p99, p99.9 and max in ms, and errors.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { sed -n '2,12p' "$0"; exit 2; }
BUNDLE=$1 CERTS=$2 INPUT=$3 STARTS=${4:-3}
shift $(( $# >= 4 ? 4 : 3 ))
[ "${1:-}" = "--" ] && shift
BIN=.build/release
PORT=${PORT:-17443} ADMIN=${ADMIN:-19090}
WORK=$(mktemp -d)
trap 'kill -TERM ${server:-0} 2>/dev/null || true; rm -rf "$WORK"' EXIT

load() {
    $BIN/loanscore-load --server 127.0.0.1:$PORT --ca "$CERTS/ca.pem" --input "$INPUT" --rate 2000 --batch 1 \
        --connections 8 --duration "${DURATION:-10}" --warmup 0 --json 2>/dev/null |
        python3 -c "$(cat <<'PY'
import json, sys
r = json.load(sys.stdin)
l = r["latency_ms"]
print("p50 %7.3f  p99 %7.3f  p99.9 %8.3f  max %8.3f  errors %d" % (l["p50"], l["p99"], l["p999"], l["max"], sum(r["errors"].values())))
PY
)"
}

for start in $(seq 1 "$STARTS"); do
    rm -rf "$WORK/audit"
    $BIN/loanscored --bundle "$BUNDLE" --listen 127.0.0.1:$PORT --admin 127.0.0.1:$ADMIN --cert "$CERTS/server.pem" \
        --key "$CERTS/server.key" --audit-dir "$WORK/audit" "$@" 2> "$WORK/loanscored.log" &
    server=$!
    until curl -sf http://127.0.0.1:$ADMIN/ready >/dev/null 2>&1; do sleep 0.05; done
    echo "start $start  cold          $(load)"
    echo "start $start  warm          $(load)"
    curl -sf -X POST http://127.0.0.1:$ADMIN/reload >/dev/null
    echo "start $start  after reload  $(load)"
    kill -TERM $server; wait $server || true
done
