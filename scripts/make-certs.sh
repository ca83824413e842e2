#!/usr/bin/env bash
# Makes a private CA, a server certificate for 127.0.0.1/localhost and a client certificate
# (for mutual TLS) in DIR, with the real `openssl` command. Keys are EC P-256, unencrypted PEM.
# The same steps as TestCertificates.make() in Sources/LoanScoreTestSupport/Certificates.swift.
#
#   scripts/make-certs.sh DIR [DAYS]     (DAYS defaults to 30)
#
# Writes DIR/ca.pem ca.key server.pem server.key client.pem client.key.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 DIR [DAYS]" >&2
    exit 2
fi
dir=$1
days=${2:-30}
if ! command -v openssl >/dev/null 2>&1; then
    echo "$0: the openssl command was not found on PATH; install it (Debian: apt-get install openssl)" >&2
    exit 1
fi
mkdir -p "$dir"
cd "$dir"

# Config files of our own, so the system's openssl.cnf cannot add or change extensions.
cat > ca.cnf <<'CONF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = LoanScore Test CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CONF
cat > server.ext <<'CONF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
CONF
cat > client.ext <<'CONF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
CONF

run() {
    if ! out=$(openssl "$@" 2>&1 </dev/null); then
        echo "$0: openssl $* failed:" >&2
        echo "$out" >&2
        exit 1
    fi
}
newkey() { run genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

newkey ca.key
run req -x509 -new -config ca.cnf -extensions ca -key ca.key -days "$days" -sha256 -out ca.pem
for pair in "server:/O=LoanScore/CN=localhost" "client:/O=LoanScore/CN=loanscore-test-client"; do
    name=${pair%%:*}
    subject=${pair#*:}
    newkey "$name.key"
    run req -new -config ca.cnf -key "$name.key" -subj "$subject" -out "$name.csr"
    run x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -CAserial ca.srl \
        -days "$days" -sha256 -extfile "$name.ext" -out "$name.pem"
done
chmod 600 ca.key server.key client.key
echo "certificates in $dir: ca.pem server.pem server.key client.pem client.key"
