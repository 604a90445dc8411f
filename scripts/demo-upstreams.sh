#!/bin/sh
# What the demo's proxy and fastcgi locations talk to, on Unix sockets in DIR:
#   DIR/app.sock      the demo application (scripts/demo-app.py: a page, a JSON
#                     API and a WebSocket echo), behind /app/
#   DIR/php-fpm.sock  a PHP-FPM pool run as the current user, behind /php/
#                     (only when Debian's php-fpm is installed; /php/ answers
#                     502 otherwise)
# `make run` starts them (DIR = build/demo, as conf/server.json names it) and
# stops them when webserv exits; the browser test does the same in its own
# folder.
# Usage: scripts/demo-upstreams.sh start|stop DIR
set -eu
action=${1:?usage: demo-upstreams.sh start|stop DIR}
dir=${2:?usage: demo-upstreams.sh start|stop DIR}
here=$(cd "$(dirname "$0")" && pwd)

stop() {
    for name in app php-fpm; do
        if [ -s "$dir/$name.pid" ]; then
            kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
            rm -f "$dir/$name.pid"
        fi
    done
}

# Waits up to 10 s for a socket to appear; says which one did not.
wait_socket() {
    i=0
    while [ ! -S "$1" ]; do
        i=$((i + 1))
        if [ $i -gt 100 ]; then
            echo "demo-upstreams: $1 did not appear (see $2)" >&2
            return 1
        fi
        sleep 0.1
    done
}

case $action in
stop) stop; exit 0 ;;
start) ;;
*) echo "usage: demo-upstreams.sh start|stop DIR" >&2; exit 2 ;;
esac

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
stop

/usr/bin/python3 "$here/demo-app.py" "$dir/app.sock" >"$dir/app.log" 2>&1 &
echo $! >"$dir/app.pid"
wait_socket "$dir/app.sock" "$dir/app.log"

fpm=$(command -v php-fpm8.2 || command -v php-fpm || ls /usr/sbin/php-fpm* 2>/dev/null | head -1 || true)
if [ -n "$fpm" ] && [ -x "$fpm" ]; then
    {
        printf '[global]\npid = %s/php-fpm.run.pid\nerror_log = %s/php-fpm.log\ndaemonize = no\n' "$dir" "$dir"
        printf '[demo]\nlisten = %s/php-fpm.sock\npm = static\npm.max_children = 2\nclear_env = yes\n' "$dir"
        # A pool started by root needs a user, and -R to allow root.
        if [ "$(id -u)" -eq 0 ]; then printf 'user = root\ngroup = root\n'; fi
    } >"$dir/php-fpm.conf"
    root_flag=
    if [ "$(id -u)" -eq 0 ]; then root_flag=-R; fi
    "$fpm" -n -y "$dir/php-fpm.conf" -F $root_flag >/dev/null 2>&1 &
    echo $! >"$dir/php-fpm.pid"
    wait_socket "$dir/php-fpm.sock" "$dir/php-fpm.log"
    echo "demo: PHP-FPM on $dir/php-fpm.sock (/php/), the demo application on $dir/app.sock (/app/)"
else
    echo "demo: the demo application on $dir/app.sock (/app/); php-fpm is not installed, so /php/ answers 502 (scripts/install-deps.sh installs it)"
fi
