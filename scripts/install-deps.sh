#!/bin/sh
# Install the Debian packages the build and the tests need, if any is missing.
# As root: apt-get install -y. Otherwise: print the exact command and fail.
# Usage: scripts/install-deps.sh [extra-package …]
set -eu

packages="cmake make gcc pkg-config libjansson-dev libcmocka-dev libssl-dev openssl curl haproxy valgrind $*"
# nginx-light: tests/integration/test_nginx_diff.py compares answers with nginx's.
packages="$packages nginx-light"
# php-fpm: tests/integration/test_fastcgi.py runs a real PHP-FPM pool on a Unix socket (issue 17).
packages="$packages php-fpm"
# Debian's python3: the demo config and the CGI tests run /usr/bin/python3.
packages="$packages python3"
# mod_rewrite (PCRE2), mod_auth_basic (crypt_r from libxcrypt, HMAC from libcrypto).
packages="$packages libpcre2-dev libcrypt-dev libssl-dev"
# HTTP/2: libnghttp2 for the server, its client tools (nghttp, h2load) and
# Debian's python3-h2 for the raw frame tests (tests/integration/test_h2*.py).
packages="$packages libnghttp2-dev nghttp2-client python3-h2"
# WebSockets (examples/modules/websocket-echo, proxy tunnels): Debian's
# python3-websockets for tests/integration/test_websocket_echo.py and test_proxy_ws.py.
packages="$packages python3-websockets"
# The config schema tests (tests/schema) validate with Debian's jsonschema.
packages="$packages python3-jsonschema"
# make deb and its test (tests/package): CPack's dependency list, lintian.
packages="$packages dpkg-dev lintian"
# The metrics test checks the exposition with promtool (Debian's prometheus).
packages="$packages prometheus"
# tests/integration/test_conn_syscalls.py counts a connection's system calls with strace.
packages="$packages strace"
# mod_compress: zlib, libdeflate (gzip levels 1-2 of whole bodies), libbrotli
# and libzstd to build it; the brotli and zstd command-line tools decode its
# output in tests/integration/test_compress.py.
packages="$packages zlib1g-dev libdeflate-dev libbrotli-dev brotli libzstd-dev zstd"

missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages:$missing" >&2
    echo "run: sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; a failed install is retried once after an update.
apt-get install -y -q $missing || { apt-get update -q && apt-get install -y -q $missing; }
