#!/bin/sh
# Build the Debian package: scripts/make-deb.sh [BUILD_DIR] (default build-deb).
# Configures a release tree for /usr with the packaging files (cmake/deb.cmake),
# builds it and runs CPack; prints the path of webserv_<version>_<arch>.deb.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$src/build-deb}
jobs=${JOBS:-2}
cmake -S "$src" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
    -DWEBSERV_DEB=ON -DWEBSERV_TESTS=OFF >/dev/null
cmake --build "$dir" -j "$jobs" >/dev/null
rm -f "$dir"/webserv_*.deb
(cd "$dir" && cpack -G DEB >/dev/null)
ls "$dir"/webserv_*.deb
