#!/usr/bin/env bash
# Spark batch scoring against `loanscore score` alone, on the same resampled file and bundle.
#
#   Bench/spark-rate.sh BUNDLE [ROWS] [CORES]
#
# Resamples ROWS applications (default 1,000,000; seed 16) from Data/credit_data.csv, scores
# them once with `loanscore score` (one core: the CLI is single-threaded) and once with
# `loanscore-spark score --master local[CORES]` (default 2), and prints wall seconds, rows/s and
# rows/s per core for each. Spark's figure includes its start (JVM, Python workers), the
# driver's bundle check, the row numbering and the Parquet writes: it is the whole job.
# Env: LOANSCORE_BIN (default .build/release/loanscore), LOANSCORE_LIBRARY (default
# .build/release/libLoanScoreC.so), CLIENT_VENV (default clients/python/.venv).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bundle=${1:?usage: Bench/spark-rate.sh BUNDLE [ROWS] [CORES]}
rows=${2:-1000000}
cores=${3:-2}
bin=${LOANSCORE_BIN:-$repo/.build/release/loanscore}
export LOANSCORE_LIBRARY=${LOANSCORE_LIBRARY:-$repo/.build/release/libLoanScoreC.so}
venv=${CLIENT_VENV:-$repo/clients/python/.venv}
for f in "$bin" "$LOANSCORE_LIBRARY" "$venv/bin/loanscore-spark"; do
    [ -e "$f" ] || { echo "missing: $f (swift build -c release; make client-venv)" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" "$repo/clients/python/tests/resample.py" --data "$repo/Data/credit_data.csv" --rows "$rows" \
    --seed 16 --output "$work/applications.csv" >/dev/null

rate() {  # label seconds cores
    python3 -c 'import sys; n, s, c = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]); print(f"{sys.argv[1]:<34} {s:8.1f} s {n / s:12,.0f} rows/s {n / s / c:12,.0f} rows/s per core")' \
        "$1" "$rows" "$2" "$3"
}
start=$(date +%s.%N)
"$bin" score --bundle "$bundle" --input "$work/applications.csv" --output "$work/cli.csv" >/dev/null
cli=$(python3 -c "import sys; print($(date +%s.%N) - $start)")
start=$(date +%s.%N)
"$venv/bin/loanscore-spark" score --bundle "$bundle" --input "$work/applications.csv" --output "$work/spark" \
    --master "local[$cores]" >/dev/null 2>"$work/spark.log" || { cat "$work/spark.log" >&2; exit 1; }
spark=$(python3 -c "import sys; print($(date +%s.%N) - $start)")
echo "$rows applications, bundle $bundle, $(nproc) CPUs"
rate "loanscore score (1 core)" "$cli" 1
rate "loanscore-spark local[$cores]" "$spark" "$cores"
