# Sourced by the served-rate A/B scripts (drift-overhead.sh, challenger-overhead.sh): one
# measured run of loanscored under loanscore-load.
#
# served_run FLAGS...: starts loanscored (release) on $BUNDLE with the given extra flags, drives
# it with loanscore-load (closed loop, batch 256, $CONNECTIONS × $PIPELINE, $SECONDS_PER_RUN s
# after a 2 s warm-up) from $INPUT, stops it, and prints "applications_per_s p99_ms".
# Needs BIN, BUNDLE, INPUT, PORT, CONNECTIONS, PIPELINE, SECONDS_PER_RUN and a folder $work with
# certs/ (scripts/make-certs.sh). PROFILE=1 records the server under `perf record -g` into
# $work/perf.data.
served_run() {
    rm -rf "$work/audit"
    local prefix=()
    if [ "${PROFILE:-0}" = 1 ]; then prefix=(perf record -F 999 -g -o "$work/perf.data" --); fi
    "${prefix[@]}" "$BIN/loanscored" --bundle "$BUNDLE" --listen "127.0.0.1:$PORT" --admin off --cert "$work/certs/server.pem" \
        --key "$work/certs/server.key" --audit-dir "$work/audit" --log-level warning "$@" 2>>"$work/server.log" &
    local server=$!
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
    "$BIN/loanscore-load" --server "127.0.0.1:$PORT" --ca "$work/certs/ca.pem" --input "$INPUT" --batch 256 \
        --connections "$CONNECTIONS" --pipeline "$PIPELINE" --duration "$SECONDS_PER_RUN" --warmup 2 --json \
        > "$work/load.json" || true
    kill -TERM $server
    wait $server || true
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.0f %.2f" % (r["applications_per_s"], r["latency_ms"]["p99"]))' "$work/load.json"
}
