#!/bin/sh
# The demo's HTTPS certificate (make run serves https://127.0.0.1:8443/ with
# it): a self-signed certificate for localhost and 127.0.0.1, made here on this
# machine into DIR (default build/tls) and never committed. Made again when
# missing or when it expires within a day.
# Usage: scripts/demo-cert.sh [DIR]
set -eu
dir="${1:-build/tls}"
mkdir -p "$dir"
crt="$dir/demo.crt"
key="$dir/demo.key"
if [ -s "$crt" ] && [ -s "$key" ] && openssl x509 -in "$crt" -noout -checkend 86400 >/dev/null 2>&1; then
    exit 0
fi
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 90 \
    -keyout "$key" -out "$crt" -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" >/dev/null 2>&1
chmod 644 "$crt"
echo "demo certificate: $crt (self-signed for localhost; curl --cacert $crt https://localhost:8443/)"
