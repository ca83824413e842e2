#!/usr/bin/env bash
# The served rate with a shadow challenger against none (issue 15, item 2: expect about half,
# since every application is scored twice), and where the time goes.
#
# Starts loanscored (release build) on BUNDLE, alternately without a challenger and with
# CHALLENGER in shadow mode (--challenger CHALLENGER --challenger-mode shadow), and drives each
# with loanscore-load, closed loop, batch 256, for ROUNDS rounds (A B A B …). Prints each run's
# applications/s and p99, the medians and their ratio. Then splits the costs in process with
# `loanscore bench` (one thread, batch 256, CPU µs per application: validation, features, the
# ensemble, decision and reason codes) for the champion and the challenger: the shadow
# challenger adds its own such cost per application; decoding, TLS, the response, the input
# hash and the audit record are paid once whatever the mode. With PERF=1 (and `perf` on the
# PATH) the last shadow run is also profiled and its top symbols printed.
#
# usage: Bench/challenger-overhead.sh BUNDLE INPUT.csv [CHALLENGER] [ROUNDS] [SECONDS]
#   BUNDLE      the champion bundle folder (e.g. demo/bundle after `make demo`)
#   INPUT.csv   applications to send (e.g. BUNDLE/validation/holdout.csv)
#   CHALLENGER  the challenger bundle folder (its schema a subset of BUNDLE's). Default: a copy
#               of BUNDLE with the model version "<version>-challenger" (the same model: the
#               worst case, scoring exactly twice the work)
# Environment: BIN (default .build/release), PORT (7644), CONNECTIONS (4), PIPELINE (8), PERF.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: Bench/challenger-overhead.sh BUNDLE INPUT.csv [CHALLENGER] [ROUNDS] [SECONDS]"
BUNDLE=${1:?$usage}
INPUT=${2:?$usage}
CHALLENGER=${3:-}
ROUNDS=${4:-1}
SECONDS_PER_RUN=${5:-10}
BIN=${BIN:-.build/release}
PORT=${PORT:-7644}
CONNECTIONS=${CONNECTIONS:-4}
PIPELINE=${PIPELINE:-8}
for tool in loanscored loanscore-load loanscore; do
    [ -x "$BIN/$tool" ] || { echo "error: $BIN/$tool is missing: swift build -c release (or set BIN)" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
scripts/make-certs.sh "$work/certs" >/dev/null
if [ -z "$CHALLENGER" ]; then
    CHALLENGER="$work/challenger"
    cp -r "$BUNDLE" "$CHALLENGER"
    # The manifest is not among its own hashed files: renaming the version keeps the bundle valid.
    python3 - "$CHALLENGER/manifest.json" <<'PY'
import json, sys
path = sys.argv[1]
manifest = json.load(open(path))
manifest["model"]["version"] = str(manifest["model"]["version"]) + "-challenger"
json.dump(manifest, open(path, "w"), indent=2, sort_keys=True)
PY
fi

# One measured run: Bench/served-run.sh.
. Bench/served-run.sh

shadow_flags=(--challenger "$CHALLENGER" --challenger-mode shadow)
alone=() shadow=()
printf '%-6s %-22s %14s %10s\n' round challenger applications/s "p99 ms"
for round in $(seq 1 "$ROUNDS"); do
    read -r rate p99 < <(served_run)
    alone+=("$rate"); printf '%-6s %-22s %14s %10s\n' "$round" none "$rate" "$p99"
    profile=0
    if [ "${PERF:-0}" = 1 ] && [ "$round" = "$ROUNDS" ] && command -v perf >/dev/null; then profile=1; fi
    read -r rate p99 < <(PROFILE=$profile served_run "${shadow_flags[@]}")
    shadow+=("$rate"); printf '%-6s %-22s %14s %10s\n' "$round" "shadow" "$rate" "$p99"
done
if grep -q "cannot start\|refused" "$work/server.log"; then echo "server log:" >&2; cat "$work/server.log" >&2; exit 3; fi

# Where the time goes: each model's in-process cost per application at batch 256.
bench() {
    "$BIN/loanscore" bench --bundle "$1" --input "$INPUT" --rows 100000 --batch 256 --threads 1 --json 2>/dev/null \
        | python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["cpu_us_per_application"])'
}
champion_us=$(bench "$BUNDLE")
challenger_us=$(bench "$CHALLENGER")

python3 - "${alone[*]}" "${shadow[*]}" "$champion_us" "$challenger_us" "$CONNECTIONS" <<'PY'
import statistics, sys
alone = [float(x) for x in sys.argv[1].split()]
shadow = [float(x) for x in sys.argv[2].split()]
champion_us, challenger_us = float(sys.argv[3]), float(sys.argv[4])
a, s = statistics.median(alone), statistics.median(shadow)
print(f"\nmedian applications/s: no challenger {a:.0f}, shadow {s:.0f}; ratio shadow/none {s / a:.3f}")
# Per application, wall-clock of the whole server (all cores) = 1 / rate.
per_alone, per_shadow = 1e6 / a, 1e6 / s
print(f"server time per application: {per_alone:.2f} µs alone, {per_shadow:.2f} µs in shadow mode "
      f"(+{per_shadow - per_alone:.2f} µs)")
print(f"in-process scoring cost (loanscore bench, 1 thread, batch 256, CPU µs/application): "
      f"champion {champion_us:.2f}, challenger {challenger_us:.2f}")
print("the rest of a request (TLS, decoding, the response, input hash, audit record and log, metrics) is paid once "
      "per application in both modes")
PY
if [ "${PERF:-0}" = 1 ] && [ -f "$work/perf.data" ]; then
    demangle() { if command -v swift >/dev/null; then swift demangle --simplified; else cat; fi; }
    echo; echo "shadow run, self time by symbol (perf, top 15):"
    perf report -i "$work/perf.data" --no-children --sort symbol --stdio -g none --percent-limit 1 2>/dev/null \
        | grep -v '^#' | grep '%' | head -15 | demangle | cut -c1-160
    echo; echo "shadow run, time under the scoring path's frames (perf, children %):"
    perf report -i "$work/perf.data" --children --sort symbol --stdio -g none 2>/dev/null | grep -v '^#' | demangle \
        | grep -E 'ScoringJob.run\(\)|ScoringEngine.score\(LoanScoreServer.RequestWorkspace\)|ModelGeneration.score\(|ScoringEngine.respond\(|ScoringEngine.writeResponse|ScoringEngine.auditRecords|AuditSink.append|ModelMetrics.record|FrameDecoder|TLSHandler' \
        | awk '{print $1, $2, substr($0, index($0, $4))}' | cut -c1-160 | head -14
    echo "(ScoringEngine.score(RequestWorkspace) is the champion; ModelGeneration.score holds it and the challenger's view)"
fi
