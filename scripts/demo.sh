#!/usr/bin/env bash
# README's first command (`make demo`) after the build: train a bundle on the bundled credit
# data, verify it against XGBoost and scikit-learn, make a private CA and certificates, start
# loanscored on the bundle, score real applications through it with the client, check the
# answers equal offline scoring, print decisions and the audit log's state, stop the server.
# Then the safe rollout: register both models in an MLflow registry (an SQLite file in the
# demo folder), train a challenger, promote each with its checks, pull both, run the challenger
# in shadow beside the champion and compare the two on the audit log and the realised outcomes.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.build/release
DEMO=${DEMO:-demo}
PORT=${PORT:-7443}
ADMIN_PORT=${ADMIN_PORT:-9090}
mkdir -p "$DEMO"
# The registry starts empty on every run, so the demo's versions are 1 (champion) and 2.
rm -rf "$DEMO/mlruns.db" "$DEMO/mlartifacts" "$DEMO/models"
REGISTRY="sqlite:///$DEMO/mlruns.db"
TRAIN="env LOANSCORE_BIN=$BIN/loanscore Training/.venv/bin/loanscore-train"

step() { printf '\n==> %s\n' "$*"; }

step "Training the ensemble on Data/credit_data.csv (logged and registered in $REGISTRY as credit version 1)"
$TRAIN train --data Data/credit_data.csv --schema Data/credit_data.schema.json --output "$DEMO/bundle" --force \
    --mlflow-uri "$REGISTRY" --register credit

step "Checking the bundle reproduces XGBoost and scikit-learn on its holdout"
$BIN/loanscore bundle verify "$DEMO/bundle"

step "Making a private CA, a server certificate (127.0.0.1, localhost) and a client certificate"
scripts/make-certs.sh "$DEMO/certs" >/dev/null

# start_server AUDIT_DIR LOANSCORED_ARGS...: starts loanscored on $PORT (admin $ADMIN_PORT), waits until ready.
start_server() {
    local audit=$1
    shift
    rm -rf "$audit"
    $BIN/loanscored --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$ADMIN_PORT" \
        --cert "$DEMO/certs/server.pem" --key "$DEMO/certs/server.key" --audit-dir "$audit" "$@" \
        2> "$DEMO/loanscored.log" &
    server=$!
    trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$ADMIN_PORT/ready" >/dev/null 2>&1 && break
        kill -0 $server 2>/dev/null || { cat "$DEMO/loanscored.log"; exit 1; }
        sleep 0.1
    done
    curl -sf "http://127.0.0.1:$ADMIN_PORT/ready"
}

# stop_server: SIGTERM (drain, flush the audit log), then the log's last lines.
stop_server() {
    kill -TERM $server
    wait $server
    trap - EXIT
    tail -n 2 "$DEMO/loanscored.log"
}

step "Starting loanscored on 127.0.0.1:$PORT (admin on 127.0.0.1:$ADMIN_PORT)"
start_server "$DEMO/audit" --bundle "$DEMO/bundle"

holdout="$DEMO/bundle/validation/holdout.csv"
step "Scoring the $(($(wc -l < "$holdout") - 1)) holdout applications through the server (TLS, batches of 256)"
$BIN/loanscore score --server "127.0.0.1:$PORT" --ca "$DEMO/certs/ca.pem" --input "$holdout" \
    --ignore-column Status --output "$DEMO/decisions.csv"

step "Checking the server's answers equal offline scoring of the same file"
$BIN/loanscore score --bundle "$DEMO/bundle" --input "$holdout" --output "$DEMO/decisions-offline.csv" >/dev/null
if cmp -s <(cut -d, -f1-6 "$DEMO/decisions.csv") <(cut -d, -f1-6 "$DEMO/decisions-offline.csv"); then
    echo "identical: id, pd, risk_level, decision, confidence and reasons of every application"
else
    echo "the server's answers differ from offline scoring" >&2
    diff <(cut -d, -f1-6 "$DEMO/decisions.csv") <(cut -d, -f1-6 "$DEMO/decisions-offline.csv") | head >&2
    exit 1
fi

step "First decisions ($DEMO/decisions.csv)"
head -n 9 "$DEMO/decisions.csv" | cut -d, -f1-6 | column -t -s,

step "Drift: the applications the server saw against the training data (GET /drift)"
curl -sf "http://127.0.0.1:$ADMIN_PORT/drift" > "$DEMO/drift.json"
python3 - "$DEMO/drift.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
print(f"model {report['model_version']}: {report['applications']} applications in the window")
for field in sorted(report["fields"], key=lambda f: -f["psi"])[:6]:
    print(f"  {field['field']:<16} PSI {field['psi']:.4f}  {field['band']}")
PY
if cmp -s <(python3 -m json.tool "$DEMO/drift.json") <($BIN/loanscore drift --bundle "$DEMO/bundle" --input "$holdout" --json | python3 -m json.tool); then
    echo "loanscore drift on the same file gives the same report"
else
    echo "the server's /drift differs from loanscore drift on the same applications" >&2
    exit 1
fi

step "One application, explained (offline, same bundle)"
$BIN/loanscore predict --bundle "$DEMO/bundle" --application '{"Seniority": 1, "Home": "rent", "Time": 60, "Age": 24, "Marital": "single", "Records": "yes", "Job": "partime", "Expenses": 60, "Income": 90, "Assets": 0, "Debt": 500, "Amount": 1500, "Price": 1600}'

step "Stopping the server (SIGTERM: drain, flush the audit log)"
stop_server

step "The audit log holds every decision"
$BIN/loanscore audit verify --dir "$DEMO/audit"

step "Realised outcomes: the holdout's own labels joined to the audited decisions"
# Ids are the holdout's data row numbers (it has no id column); Status is its label.
python3 - "$holdout" "$DEMO/outcomes.csv" <<'PY'
import csv, sys
with open(sys.argv[1], newline="") as f, open(sys.argv[2], "w", newline="") as out:
    writer = csv.writer(out)
    writer.writerow(["id", "defaulted", "observed_at"])
    for row, record in enumerate(csv.DictReader(f), start=1):
        writer.writerow([row, 1 if record["Status"] == "bad" else 0, "2027-12-31"])
PY
$BIN/loanscore outcomes --audit-dir "$DEMO/audit" --outcomes "$DEMO/outcomes.csv"

step "Safe rollout: a challenger trained with SMOTE resampling (same seed, so the same holdout), registered as credit version 2"
$TRAIN train --data Data/credit_data.csv --schema Data/credit_data.schema.json --output "$DEMO/challenger-bundle" \
    --force --resample smote --mlflow-uri "$REGISTRY" --register credit | tail -n 4

step "Promoting them, each through its checks (hashes, parity, fairness gate; for the champion, holdout AUC)"
# The credit data's approvals breach the four-fifths rule for applicants under 25 and for
# single and separated ones (the training summary above says so): the gate refuses...
if $TRAIN registry promote credit --version 1 --alias champion --approved-by "demo risk officer" \
    --mlflow-uri "$REGISTRY"; then
    echo "the fairness gate should have refused version 1" >&2
    exit 1
fi
# ...and the approver may accept the finding on record: the check still runs, its failure is
# kept as waived with the reason, and the approval records the bundle's manifest digest.
WAIVER="demo: fairness finding reviewed and accepted for this demonstration (a lender cites its committee decision here)"
$TRAIN registry promote credit --version 1 --alias champion --approved-by "demo risk officer" \
    --note "first model on the credit data" --waive fairness-gate --waiver-reason "$WAIVER" --mlflow-uri "$REGISTRY"
$TRAIN registry promote credit --version 2 --alias challenger --approved-by "demo model validator" \
    --note "shadow it before it decides anything" --waive fairness-gate --waiver-reason "$WAIVER" \
    --mlflow-uri "$REGISTRY"
$TRAIN registry history credit --mlflow-uri "$REGISTRY"

step "Pulling both into $DEMO/models (hashes checked, links repointed atomically)"
$TRAIN registry pull credit@champion --into "$DEMO/models" --mlflow-uri "$REGISTRY"
$TRAIN registry pull credit@challenger --into "$DEMO/models" --mlflow-uri "$REGISTRY"

step "Shadow run: loanscored answers with the champion; the challenger scores every application too"
start_server "$DEMO/audit-shadow" --bundle "$DEMO/models/current" \
    --challenger "$DEMO/models/challenger" --challenger-mode shadow
curl -sf "http://127.0.0.1:$ADMIN_PORT/model" > "$DEMO/model.json"
python3 - "$DEMO/model.json" <<'PY'
import json, sys
model = json.load(open(sys.argv[1]))
challenger = model["challenger"]
print(f"champion {model['version']}, challenger {challenger['version']} ({challenger['mode']})")
PY
$BIN/loanscore score --server "127.0.0.1:$PORT" --ca "$DEMO/certs/ca.pem" --input "$holdout" \
    --ignore-column Status --output "$DEMO/decisions-shadow.csv"
if cmp -s <(cut -d, -f1-6 "$DEMO/decisions-shadow.csv") <(cut -d, -f1-6 "$DEMO/decisions.csv"); then
    echo "the answers are the champion's alone, as without a challenger"
else
    echo "a shadow challenger changed the answers" >&2
    exit 1
fi
stop_server

step "Champion against challenger: the audit log's shadow verdicts and the realised outcomes"
$BIN/loanscore audit compare --dir "$DEMO/audit-shadow" --outcomes "$DEMO/outcomes.csv" --top 5
