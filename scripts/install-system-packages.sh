#!/usr/bin/env bash
# Installs the system packages LoanScore needs, before anything is built.
#
#   scripts/install-system-packages.sh [demo|test]
#
# `demo` checks what `make demo` needs (the build, the training tool's venv, certificates,
# column and curl); `test` (the default, and what .ci/run uses) checks what the build and the
# tests need (the same without curl, plus lz4, systemd's tools, and Prometheus and Alertmanager
# with their promtool and amtool and nginx with its stream module for deploy/tests, and Java 17 for the Spark tests). Missing packages are
# installed with apt-get when this runs as root or with sudo that asks no password;
# otherwise the script prints the one command to run and exits 1, so that no build starts
# without them. Swift itself is not a system package: the script only checks it is on PATH.
set -euo pipefail

profile=${1:-test}
case "$profile" in
    demo | test) ;;
    *) echo "usage: $0 [demo|test]" >&2; exit 2 ;;
esac

need=()
command -v make >/dev/null || need+=(make)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v pkg-config >/dev/null || need+=(pkg-config)
# LoanScoreCompression links the system liblz4 (the CLZ4 system-library target needs its headers).
pkg-config --exists liblz4 2>/dev/null || need+=(liblz4-dev)
# LoanScoreTLS links the system OpenSSL; certificates are made with the openssl command.
pkg-config --exists openssl 2>/dev/null || need+=(libssl-dev)
command -v openssl >/dev/null || need+=(openssl)
# loanscore-stream (the Kafka bridge) links the system librdkafka (the CKafka system-library target needs its headers).
pkg-config --exists rdkafka 2>/dev/null || need+=(librdkafka-dev)
# The demo prints its first decisions as a table with column.
command -v column >/dev/null || need+=(bsdextrautils)
if [ "$profile" = demo ]; then
    # The demo waits for the server's /ready with curl.
    command -v curl >/dev/null || need+=(curl)
else
    # Archived audit segments are LZ4 frames; the tests read them back with the lz4 command.
    command -v lz4 >/dev/null || need+=(lz4)
    # The Systemd/ tests run systemd-analyze verify, systemd-sysusers and systemd-tmpfiles (no running systemd needed).
    command -v systemd-analyze >/dev/null || need+=(systemd)
    # deploy/tests checks the shipped rules and configurations with the real tools and runs
    # Prometheus against a live loanscored: promtool and prometheus (Debian: prometheus),
    # amtool (prometheus-alertmanager); the Swift metrics tests run promtool check metrics on
    # a live /metrics.
    { command -v promtool >/dev/null && command -v prometheus >/dev/null; } || need+=(prometheus)
    command -v amtool >/dev/null || need+=(prometheus-alertmanager)
    # deploy/tests runs nginx -t on deploy/nginx's configuration and a fleet behind a real nginx
    # (its stream module is the separate package libnginx-mod-stream on Debian). nginx is in
    # /usr/sbin, which a user's PATH may lack. Installing the package may start Debian's own
    # nginx on port 80; the tests run their own nginx on loopback and do not use it.
    { command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } || need+=(nginx)
    [ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
    # deploy/tests/test_console.py opens the admin port's web console in headless Chromium.
    command -v chromium >/dev/null || need+=(chromium)
    # The Python package's Spark job runs PySpark in local mode, which needs a Java 17+ runtime.
    java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
    [ "${java_major:-0}" -ge 17 ] 2>/dev/null || need+=(openjdk-17-jre-headless)
fi

if [ ${#need[@]} -gt 0 ]; then
    if ! command -v apt-get >/dev/null; then
        echo "missing system packages (Debian names): ${need[*]}; install them with your package manager, then run this again" >&2
        exit 1
    fi
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        echo "missing system packages: ${need[*]}" >&2
        echo "install them first (this needs root), then run this again:" >&2
        echo "    sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
        exit 1
    fi
    echo "installing missing system packages: ${need[*]}" >&2
    "${as_root[@]}" apt-get update
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
fi
command -v swift >/dev/null || { echo "swift is not on PATH (expected Swift 6.3 at /opt/swift)" >&2; exit 1; }
