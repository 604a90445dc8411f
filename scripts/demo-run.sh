#!/bin/sh
# make run: the demo server (conf/server.json) in the foreground, with what it
# needs beside it: its HTTPS certificate (build/tls, scripts/demo-cert.sh) and
# the application and PHP-FPM pool its /app/ and /php/ locations talk to
# (build/demo, scripts/demo-upstreams.sh), stopped again when webserv exits.
# Those folders are fixed because conf/server.json names them.
# Usage: scripts/demo-run.sh BUILD_DIR CONFIG
set -eu
build=${1:?usage: demo-run.sh BUILD_DIR CONFIG}
config=${2:?usage: demo-run.sh BUILD_DIR CONFIG}
here=$(dirname "$0")
"$here/demo-cert.sh" build/tls
"$here/demo-upstreams.sh" start build/demo
trap '"$here/demo-upstreams.sh" stop build/demo' EXIT
trap 'exit 130' INT TERM
"$build/webserv" "$config"
