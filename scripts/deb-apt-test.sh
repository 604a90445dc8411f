#!/bin/sh
# A real `apt-get install ./webserv_*.deb` (issue 18), without touching this
# machine: `make deb-apt-test` (not part of `make test`: it needs root and
# overlayfs in a mount namespace).
#
# The package is installed into a throwaway copy of this very system: an
# overlay whose lower layer is / (read-only: every write lands in a temporary
# upper folder) in private mount, network and PID namespaces, entered with
# chroot. apt resolves the package's dependencies against this system's dpkg
# database and cannot download anything (the network namespace has only its
# own loopback; what the build needed is installed here). Then, as on a machine without systemd: the maintainer scripts
# made the webserv system user and /var/log/webserv, `webserv -t` accepts the
# shipped /etc/webserv/server.json, `webserv /etc/webserv/server.json` serves
# the default page on port 80 of the namespace's own loopback, and
# `apt-get purge` removes the package, its config and its logs (the system
# user stays, as Debian policy asks). When the namespaces end, nothing of it
# is left.
#
# Usage: scripts/deb-apt-test.sh [PACKAGE.deb]   (default: builds one with make-deb.sh)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" != 0 ]; then
    echo "deb-apt-test: needs root (mount and network namespaces, overlayfs)" >&2
    exit 77
fi
for tool in unshare chroot ip apt-get curl; do
    command -v "$tool" >/dev/null || { echo "deb-apt-test: $tool is missing" >&2; exit 77; }
done

deb=${1:-}
if [ -z "$deb" ]; then
    deb=$(JOBS=${JOBS:-2} "$src/scripts/make-deb.sh" "$src/build-deb")
fi
deb=$(readlink -f "$deb")
[ -f "$deb" ] || { echo "deb-apt-test: no package at $deb" >&2; exit 1; }

tmp=$(mktemp -d /tmp/webserv-apt-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/upper" "$tmp/work" "$tmp/root"
cp "$deb" "$tmp/webserv.deb"

# Everything below runs in the new namespaces; the overlay, its mounts and any
# process still running there go away with them.
unshare --mount --net --pid --fork --kill-child sh -eu -s "$tmp" <<'INNER'
tmp=$1
root=$tmp/root
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=/,upperdir=$tmp/upper,workdir=$tmp/work" "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/tmp"
mount -t tmpfs tmpfs "$root/run" # no /run/systemd/system: the scripts take the no-systemd path
mkdir -p "$root/run/lock"
cp "$tmp/webserv.deb" "$root/tmp/"
ip link set lo up

fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

in_root getent passwd webserv >/dev/null && fail "this system already has a webserv user: the test would prove nothing"
in_root dpkg -s webserv >/dev/null 2>&1 && fail "webserv is already installed here"

export DEBIAN_FRONTEND=noninteractive
if ! in_root apt-get install -y -o Dpkg::Use-Pty=0 /tmp/webserv.deb >"$tmp/apt-install.log" 2>&1; then
    cat "$tmp/apt-install.log"
    fail "apt-get install ./webserv.deb"
fi
ok "apt-get install ./webserv_*.deb (dependencies from this system, nothing downloaded)"

[ "$(in_root dpkg-query -W -f '${Status}' webserv)" = "install ok installed" ] || fail "dpkg status"
in_root getent passwd webserv >/dev/null || fail "postinst made no webserv user"
case $(in_root getent passwd webserv | cut -d: -f7) in
    */nologin|*/false) ;;
    *) fail "the webserv user has a login shell" ;;
esac
ok "system user webserv (no login shell)"
[ "$(in_root stat -c %U:%G /var/log/webserv)" = "webserv:adm" ] || fail "/var/log/webserv owner"
ok "/var/log/webserv owned by webserv:adm"
in_root test -f /var/www/html/index.webserv-debian.html || fail "no default page in /var/www/html"
in_root webserv -t /etc/webserv/server.json >"$tmp/t.log" 2>&1 || { cat "$tmp/t.log"; fail "webserv -t /etc/webserv/server.json"; }
ok "webserv -t /etc/webserv/server.json"

# No systemd here: start it the documented other way, on the namespace's port 80.
chroot "$root" /usr/bin/webserv /etc/webserv/server.json >"$tmp/server.log" 2>&1 &
pid=$!
i=0
until curl -sf -o "$tmp/page.html" http://127.0.0.1/; do
    i=$((i + 1))
    [ $i -lt 100 ] || { cat "$tmp/server.log"; fail "webserv /etc/webserv/server.json serves nothing on port 80"; }
    kill -0 $pid 2>/dev/null || { cat "$tmp/server.log"; fail "webserv exited"; }
    sleep 0.1
done
cmp -s "$tmp/page.html" "$root/var/www/html/index.webserv-debian.html" || fail "http://127.0.0.1/ is not the default page"
curl -sf -o /dev/null "http://[::1]/" || fail "nothing on [::1]:80"
ok "webserv /etc/webserv/server.json serves the default page on 127.0.0.1:80 and [::1]:80"
kill -TERM $pid
wait $pid || fail "webserv did not stop cleanly on SIGTERM"
grep -q 'GET / HTTP/1.1' "$root/var/log/webserv/access.log" || fail "no access log in /var/log/webserv"
ok "stopped on SIGTERM; access log in /var/log/webserv"

if ! in_root apt-get purge -y -o Dpkg::Use-Pty=0 webserv >"$tmp/apt-purge.log" 2>&1; then
    cat "$tmp/apt-purge.log"
    fail "apt-get purge webserv"
fi
in_root dpkg -s webserv >/dev/null 2>&1 && fail "still installed after purge"
in_root test -e /usr/bin/webserv && fail "/usr/bin/webserv left after purge"
in_root test -e /etc/webserv/server.json && fail "/etc/webserv/server.json left after purge"
in_root test -e /var/log/webserv && fail "/var/log/webserv left after purge"
ok "apt-get purge removes the package, its config and its logs"
INNER
echo "deb-apt-test: passed ($(basename "$deb"))"
