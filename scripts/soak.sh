#!/usr/bin/env bash
# Soak test (issue 5, item 8): a release loanscored over TLS with its audit log on, driven
# open loop at a fraction (default 70 %) of its measured maximum rate for a long time while
# connections churn; the server's RSS and open descriptors are sampled from /proc and must
# stay flat, and no request may fail. Writes a Markdown report to Bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    cat <<'EOF'
usage: scripts/soak.sh [options]

Starts .build/release/loanscored over TLS (audit log on, admin port on), measures its maximum
rate with a short closed-loop run of loanscore-load, then runs loanscore-load open loop at
--fraction of that rate for --duration seconds, each connection replaced after
--reconnect-every requests. Every --sample seconds it records the server's RSS
(/proc/PID/status VmRSS) and open descriptors (/proc/PID/fd). At the end it prints a report
and writes it as Markdown to --report.

Exit status: 0 when no request failed and RSS and descriptors stayed within the tolerances
(the last sample against the first one taken after the warm-up); 1 otherwise; 2 usage error.

options:
  --duration S          seconds of open-loop load (default 600)
  --fraction F          target rate as a fraction of the maximum (default 0.7)
  --max-duration S      seconds of the closed-loop maximum-rate run (default 20)
  --connections N       connections (default 4)
  --pipeline N          closed loop: requests in flight per connection (default 8)
  --batch N             applications per request (default 8)
  --reconnect-every N   requests per connection before it is replaced (default 500)
  --sample S            seconds between RSS/descriptor samples (default 10)
  --warmup S            seconds of open-loop warm-up, excluded from the figures and from
                        the flatness baseline (default 30)
  --rss-tolerance-mb M  allowed RSS growth, last sample over the first after warm-up (default 16)
  --fd-tolerance N      allowed growth in open descriptors (default: 2 x connections + 4,
                        for connections being replaced at the moment of a sample)
  --bundle DIR          model bundle (default: demo/bundle if present, else train one into
                        the work folder with Training/.venv, as scripts/demo.sh does)
  --input CSV           applications (default: the bundle's validation/holdout.csv)
  --work DIR            work folder for certificates, audit log, logs (default: a new temp folder)
  --report FILE         Markdown report (default: Bench/results/YYYY-MM-DD-soak.md)
  --port P, --admin-port P   listeners (default 7543, 9190)
  --bin DIR             where loanscored, loanscore-load and loanscore are (default .build/release)
  --no-build            do not run swift build first
  -h, --help            this text

A 20-second smoke run: scripts/soak.sh --duration 20 --max-duration 5 --warmup 5 --sample 2
EOF
}

DURATION=600 FRACTION=0.7 MAX_DURATION=20 CONNECTIONS=4 PIPELINE=8 BATCH=8 RECONNECT=500 SAMPLE=10 WARMUP=30
RSS_TOLERANCE_MB=16 FD_TOLERANCE= BUNDLE= INPUT= WORK= REPORT= PORT=7543 ADMIN_PORT=9190 BUILD=1 BIN=.build/release
while [ $# -gt 0 ]; do
    case $1 in
        --duration) DURATION=$2; shift 2 ;;
        --fraction) FRACTION=$2; shift 2 ;;
        --max-duration) MAX_DURATION=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --pipeline) PIPELINE=$2; shift 2 ;;
        --batch) BATCH=$2; shift 2 ;;
        --reconnect-every) RECONNECT=$2; shift 2 ;;
        --sample) SAMPLE=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --rss-tolerance-mb) RSS_TOLERANCE_MB=$2; shift 2 ;;
        --fd-tolerance) FD_TOLERANCE=$2; shift 2 ;;
        --bundle) BUNDLE=$2; shift 2 ;;
        --input) INPUT=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --report) REPORT=$2; shift 2 ;;
        --port) PORT=$2; shift 2 ;;
        --admin-port) ADMIN_PORT=$2; shift 2 ;;
        --bin) BIN=$2; BUILD=0; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "scripts/soak.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
FD_TOLERANCE=${FD_TOLERANCE:-$((2 * CONNECTIONS + 4))}
for number in "$DURATION" "$MAX_DURATION" "$CONNECTIONS" "$PIPELINE" "$BATCH" "$RECONNECT" "$SAMPLE" "$FD_TOLERANCE"; do
    [[ $number =~ ^[1-9][0-9]*$ ]] || { echo "scripts/soak.sh: '$number' is not a positive whole number (see --help)" >&2; exit 2; }
done
[[ $WARMUP =~ ^[0-9]+$ ]] || { echo "scripts/soak.sh: --warmup must be a whole number of seconds" >&2; exit 2; }
[[ $FRACTION =~ ^0?\.[0-9]+$|^1(\.0*)?$ ]] || { echo "scripts/soak.sh: --fraction must be in (0, 1]" >&2; exit 2; }
[[ $RSS_TOLERANCE_MB =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "scripts/soak.sh: --rss-tolerance-mb must be a number" >&2; exit 2; }

step() { printf '\n==> %s\n' "$*" >&2; }

if [ "$BUILD" = 1 ]; then
    step "Building loanscored, loanscore-load and loanscore (release)"
    for product in loanscored loanscore-load loanscore; do swift build -c release --product "$product" >&2; done
fi
for tool in loanscored loanscore-load; do
    [ -x "$BIN/$tool" ] || { echo "scripts/soak.sh: $BIN/$tool is missing; build it or drop --no-build" >&2; exit 2; }
done

WORK=${WORK:-$(mktemp -d /tmp/loanscore-soak.XXXXXX)}
mkdir -p "$WORK"
if [ -z "$BUNDLE" ]; then
    if [ -f demo/bundle/manifest.json ]; then
        BUNDLE=demo/bundle
    else
        [ -x Training/.venv/bin/loanscore-train ] || {
            echo "scripts/soak.sh: no demo/bundle and no Training/.venv: run 'make venv' or give --bundle" >&2; exit 2; }
        step "Training a bundle on Data/credit_data.csv into $WORK/bundle"
        LOANSCORE_BIN=$BIN/loanscore Training/.venv/bin/loanscore-train train --data Data/credit_data.csv \
            --schema Data/credit_data.schema.json --output "$WORK/bundle" --force >&2
        BUNDLE=$WORK/bundle
    fi
fi
INPUT=${INPUT:-$BUNDLE/validation/holdout.csv}
[ -f "$INPUT" ] || { echo "scripts/soak.sh: no input file $INPUT (give --input)" >&2; exit 2; }
REPORT=${REPORT:-Bench/results/$(date +%F)-soak.md}

step "Certificates and server (work folder $WORK)"
scripts/make-certs.sh "$WORK/certs" >/dev/null
rm -rf "$WORK/audit"
$BIN/loanscored --bundle "$BUNDLE" --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$ADMIN_PORT" \
    --cert "$WORK/certs/server.pem" --key "$WORK/certs/server.key" --audit-dir "$WORK/audit" \
    --log-level notice 2> "$WORK/loanscored.log" &
server=$!
cleanup() {
    [ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null || true
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$ADMIN_PORT/ready" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$WORK/loanscored.log" >&2; exit 1; }
    sleep 0.1
done
curl -sf "http://127.0.0.1:$ADMIN_PORT/ready" >&2

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$server/status"; }
fds() { ls "/proc/$server/fd" | wc -l; }
load=(--server "127.0.0.1:$PORT" --ca "$WORK/certs/ca.pem" --input "$INPUT" --batch "$BATCH" --connections "$CONNECTIONS" --json)

step "Maximum rate: closed loop, $CONNECTIONS connections x $PIPELINE in flight, batch $BATCH, ${MAX_DURATION} s"
$BIN/loanscore-load "${load[@]}" --pipeline "$PIPELINE" --duration "$MAX_DURATION" --warmup 3 > "$WORK/max.json"
max_rate=$(jq '.requests_per_s' "$WORK/max.json")
target=$(jq -n --argjson m "$max_rate" --argjson f "$FRACTION" '($m * $f * 10 | floor) / 10')
echo "maximum $max_rate requests/s; target $target requests/s" >&2
sleep 2
idle_rss=$(rss_kb) idle_fds=$(fds)

step "Soak: open loop at $target requests/s for $DURATION s (+ $WARMUP s warm-up), reconnecting every $RECONNECT requests"
: > "$WORK/samples.tsv"
(
    started=$(date +%s)
    while kill -0 "$server" 2>/dev/null; do
        now=$(($(date +%s) - started))
        printf '%s\t%s\t%s\t%s\n' "$now" "$(rss_kb)" "$(fds)" "$(cut -d' ' -f1 /proc/loadavg)" >> "$WORK/samples.tsv"
        sleep "$SAMPLE"
    done
) &
sampler=$!
status=0
$BIN/loanscore-load "${load[@]}" --rate "$target" --duration "$DURATION" --warmup "$WARMUP" \
    --reconnect-every "$RECONNECT" > "$WORK/soak.json" || status=$?
sleep 1
printf '%s\t%s\t%s\t%s\n' "end" "$(rss_kb)" "$(fds)" "$(cut -d' ' -f1 /proc/loadavg)" >> "$WORK/samples.tsv"
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=
[ "$status" = 0 ] || { echo "scripts/soak.sh: loanscore-load failed (exit $status)" >&2; cat "$WORK/soak.json" >&2; exit 1; }
metrics=$(curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" || true)
echo "$metrics" > "$WORK/metrics.txt"

step "Stopping the server and checking the audit log"
kill -TERM "$server"
wait "$server" || true
trap - EXIT
audit_ok="not checked (no $BIN/loanscore)"
if [ -x "$BIN/loanscore" ]; then
    if $BIN/loanscore audit verify --dir "$WORK/audit" > "$WORK/audit-verify.txt" 2>&1; then
        audit_ok="verified: $(tail -n 1 "$WORK/audit-verify.txt")"
    else
        audit_ok="FAILED: $(tail -n 1 "$WORK/audit-verify.txt")"
    fi
fi

# The report (python3: the figures are in JSON and a TSV of samples).
mkdir -p "$(dirname "$REPORT")"
python3 - "$WORK" "$REPORT" "$WARMUP" "$RSS_TOLERANCE_MB" "$FD_TOLERANCE" "$idle_rss" "$idle_fds" "$audit_ok" \
    "$FRACTION" "$CONNECTIONS" "$PIPELINE" "$BATCH" "$RECONNECT" "$DURATION" "$SAMPLE" "$BUNDLE" "$INPUT" <<'PY'
import json, os, platform, re, subprocess, sys, time
(work, report, warmup, rss_tol_mb, fd_tol, idle_rss, idle_fds, audit_ok, fraction, connections, pipeline, batch,
 reconnect, duration, sample, bundle, input_file) = sys.argv[1:]
warmup, rss_tol_mb, fd_tol, idle_rss, idle_fds = float(warmup), float(rss_tol_mb), int(fd_tol), int(idle_rss), int(idle_fds)
maximum = json.load(open(f"{work}/max.json"))
soak = json.load(open(f"{work}/soak.json"))
samples = []
for line in open(f"{work}/samples.tsv"):
    t, rss, fds, load = line.rstrip("\n").split("\t")
    if rss and fds:
        samples.append((t, int(rss), int(fds), float(load)))
measured = [s for s in samples if s[0] == "end" or float(s[0]) >= warmup]
if not measured:
    measured = samples
mb = lambda kb: kb / 1024
rss = [s[1] for s in measured]
fds = [s[2] for s in measured]
loads = [s[3] for s in samples]
rss_growth = mb(rss[-1] - rss[0])
fd_growth = fds[-1] - fds[0]
errors = soak["errors"]
error_count = sum(errors.values())
lat = soak["latency_ms"]
target = soak["settings"]["rate"]
achieved = soak["requests_per_s"]
conn = soak.get("connections", {})
metric = lambda name: next((l.split()[-1] for l in open(f"{work}/metrics.txt") if l.startswith(name + " ") or l.startswith(name + "{")), "n/a")
checks = [
    (error_count == 0, f"errors: {error_count} (none allowed)"),
    (rss_growth <= rss_tol_mb, f"RSS growth after warm-up: {rss_growth:+.1f} MB (tolerance {rss_tol_mb:g} MB)"),
    (fd_growth <= fd_tol, f"open descriptors growth after warm-up: {fd_growth:+d} (tolerance {fd_tol})"),
    (achieved >= 0.95 * target, f"achieved rate {achieved:.0f} of target {target:.0f} requests/s (at least 95 %)"),
]
ok = all(c for c, _ in checks)
try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
except OSError:
    commit = "?"
lines = [
    f"# Soak: {float(duration) / 60:g} minutes at {float(fraction) * 100:g} % of the maximum rate, connections churning",
    "",
    f"{time.strftime('%Y-%m-%d %H:%M %Z')}, commit {commit}, {platform.node()} ({os.cpu_count()} cores, shared with other "
    f"engineers' builds: load average {min(loads):.1f}–{max(loads):.1f} during the run, mean {sum(loads) / len(loads):.1f}). "
    f"`scripts/soak.sh` with release `loanscored` over TLS (TLS 1.3), audit log on (group commit), bundle `{bundle}`, "
    f"input `{input_file}`.",
    "",
    f"**Result: {'PASS' if ok else 'FAIL'}**",
    "",
]
lines += [f"- {'ok' if c else 'FAILED'}: {text}" for c, text in checks]
lines += [
    "",
    "| figure | value |",
    "|---|---|",
    f"| maximum rate (closed loop, {connections} connections × {pipeline} in flight, batch {batch}) | {maximum['requests_per_s']:.0f} requests/s ({maximum['applications_per_s']:.0f} applications/s), p99 {maximum['latency_ms']['p99']:.2f} ms |",
    f"| target rate ({float(fraction) * 100:g} %) | {target:.0f} requests/s |",
    f"| achieved rate (open loop, {duration} s measured after {warmup:g} s warm-up) | {achieved:.1f} requests/s ({soak['applications_per_s']:.0f} applications/s) |",
    f"| errors | {error_count}{' ' + json.dumps(errors) if errors else ''} |",
    f"| latency (from the intended send time) | p50 {lat['p50']:.2f} ms, p90 {lat['p90']:.2f} ms, p99 {lat['p99']:.2f} ms, p99.9 {lat['p999']:.2f} ms, max {lat['max']:.2f} ms |",
    f"| connections | {connections} at a time, each replaced after {reconnect} requests: {conn.get('opened', 'n/a')} opened, {conn.get('reconnected', 'n/a')} churned |",
    f"| server RSS, idle before the load | {mb(idle_rss):.1f} MB |",
    f"| server RSS after warm-up: first / min / max / last | {mb(rss[0]):.1f} / {mb(min(rss)):.1f} / {mb(max(rss)):.1f} / {mb(rss[-1]):.1f} MB |",
    f"| open descriptors, idle before the load | {idle_fds} |",
    f"| open descriptors after warm-up: first / min / max / last | {fds[0]} / {min(fds)} / {max(fds)} / {fds[-1]} |",
    f"| malloc trims (loanscore_malloc_trim_total) | {metric('loanscore_malloc_trim_total')} |",
    f"| audit log | {audit_ok} |",
    "",
    f"Samples every {sample} s (seconds since the load started, warm-up included; `end` is after the load):",
    "",
    "| t (s) | RSS (MB) | open fds | load average |",
    "|---|---|---|---|",
]
lines += [f"| {t} | {mb(r):.1f} | {f} | {l:.2f} |" for t, r, f, l in samples]
text = "\n".join(lines) + "\n"
open(report, "w").write(text)
print(text)
print(f"report written to {report}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
