#!/usr/bin/env bash
# Builds the libFuzzer targets with AddressSanitizer and fuzzes each one for a bounded time.
#
#   Fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, every target)
#
# Environment:
#   FUZZ_CONFIG=debug|release   build configuration (default release: several times the
#                               executions per second of debug, same sanitizer coverage)
#   FUZZ_MERGE=1                afterwards, add to Fuzz/corpus/<Target>/ only the inputs this run
#                               found that cover something the committed ones do not
#   FUZZ_ARTIFACTS=DIR          where crashing inputs go (default Fuzz/artifacts, ignored by git)
#
# Each target first replays Fuzz/regressions/<Target>/* (every crash ever found), then fuzzes a
# scratch copy of Fuzz/corpus/<Target>/ (the committed corpus is never grown by a run).
# Prints, per target: executions, executions per second, coverage (edges, features), peak RSS,
# and the exit status. Exits non-zero if any target crashed, leaked, timed out or ran out of
# memory; the offending input is in the artifacts folder.
set -euo pipefail
cd "$(dirname "$0")"
FUZZ_DIR=$(pwd)
SECONDS_PER_TARGET=${1:-60}
shift || true
ALL_TARGETS=(FrameDecoderFuzz BatchDecoderFuzz LZ4Fuzz HandshakeFuzz BundleFuzz CABIFuzz)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")
CONFIG=${FUZZ_CONFIG:-release}
ARTIFACTS=${FUZZ_ARTIFACTS:-$FUZZ_DIR/artifacts}
mkdir -p "$ARTIFACTS"

max_len() {
    case $1 in
        BundleFuzz) echo 40000 ;;   # the trained-forest seed is 28 KB
        LZ4Fuzz | HandshakeFuzz) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

BUILD=(swift build -c "$CONFIG" -Xswiftc -sanitize=fuzzer,address --package-path "$FUZZ_DIR")
echo "== ${BUILD[*]}"
"${BUILD[@]}"
BIN=$("${BUILD[@]}" --show-bin-path)

# Swift's own crash reporter reads the crashed stack in ways ASan reports as a second error;
# let libFuzzer and ASan report traps. Symbolized stacks come from llvm-symbolizer.
export SWIFT_BACKTRACE=enable=no
command -v llvm-symbolizer >/dev/null || [ ! -x /opt/swift/usr/bin/llvm-symbolizer ] || \
    export ASAN_SYMBOLIZER_PATH=/opt/swift/usr/bin/llvm-symbolizer

SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
failed=0
failures=0
summary=()
for target in "${TARGETS[@]}"; do
    log="$SCRATCH/$target.log"
    status=ok
    # 1. Replay every committed crash (files as arguments: each is run once).
    if compgen -G "regressions/$target/*" >/dev/null; then
        if ! "$BIN/$target" -rss_limit_mb=2048 -detect_leaks=1 regressions/"$target"/* >"$log.replay" 2>&1; then
            echo "!! $target: a committed regression input fails again:"; tail -40 "$log.replay"
            status="regression-failed"; failed=1
        fi
    fi
    # 2. Fuzz a scratch copy of the corpus.
    work="$SCRATCH/corpus-$target"
    mkdir -p "$work"
    cp corpus/"$target"/* "$work"/ 2>/dev/null || true
    echo "== $target: ${SECONDS_PER_TARGET}s, max_len $(max_len "$target")"
    set +e
    dict=()
    [ -f "dict/$target.dict" ] && dict=(-dict="dict/$target.dict")
    "$BIN/$target" "$work" "${dict[@]}" \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -max_len="$(max_len "$target")" -timeout=10 \
        -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$target-" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
    if [ $rc -ne 0 ]; then
        status="FAILED(rc=$rc)"; failed=1; failures=$((failures + 1))
        echo "!! $target exited $rc; the end of its log:"; tail -60 "$log"
        ls -1 "$ARTIFACTS"/"$target"-* 2>/dev/null || true
    elif [ "$status" = ok ]; then
        status="ok(rc=0)"
    fi
    line="$target: executions ${execs:-?}, ${rate:-?} exec/s, ${cov:-cov ?}, corpus $(ls "$work" | wc -l) files, peak RSS ${rss:-?} MB, $status"
    echo "$line"
    summary+=("$line")
    # 3. Optionally keep what this run found that adds coverage: merging into the committed
    #    folder adds only inputs with features the seeds there lack (named by their SHA-1).
    if [ "${FUZZ_MERGE:-0}" = 1 ] && [ $rc -eq 0 ]; then
        before=$(ls corpus/"$target" | wc -l)
        "$BIN/$target" -merge=1 -max_len="$(max_len "$target")" -rss_limit_mb=2048 corpus/"$target" "$work" \
            >"$log.merge" 2>&1
        echo "   merged: corpus/$target $before -> $(ls corpus/"$target" | wc -l) files"
    fi
done
echo "== summary"
printf '%s\n' "${summary[@]}"
echo "fuzz: $(( ${#summary[@]} - failures )) passed, $failures failed"
exit $failed
