"""The server under strace, for tests that count its system calls (test_conn_syscalls,
test_proxy_pool). strace starts webserv as its own child, so no ptrace permission beyond
one's own children is needed; the trace goes to a file that the test reads."""
import os
import re
import shutil
import signal
import subprocess
import time

import harness
import proctree


def start(test, calls, config=None, asan_options="detect_leaks=0", strings=32, **start_kw):
    """test.start(config, **start_kw) with webserv under `strace -f -e trace=calls`;
    returns the trace file's path. Under ASan, asan_options go after the environment's
    own (LeakSanitizer cannot run under ptrace; the other checks still do). strings:
    how many characters of a string argument (a path) the trace shows (strace -s)."""
    strace = shutil.which("strace")
    test.assertIsNotNone(strace, "strace is missing (scripts/install-deps.sh installs it)")
    trace = os.path.join(test.tmp, "trace.txt")
    wrapper = os.path.join(test.tmp, "traced-webserv")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec %s -f -qq -s %d -e trace=%s -o %s -- %s \"$@\"\n"
                % (strace, strings, calls, trace, os.path.abspath(harness.BIN)))
    os.chmod(wrapper, 0o755)
    if "asan" in harness.BIN.lower():
        opts = os.environ.get("ASAN_OPTIONS", "")
        start_kw["env"] = dict(start_kw.get("env") or {},
                               ASAN_OPTIONS=(opts + ":" if opts else "") + asan_options)
    saved, harness.BIN = harness.BIN, wrapper
    try:
        test.start(config, **start_kw)
    finally:
        harness.BIN = saved
    return trace


def loop_tid(test):
    """The thread id of webserv's event loop: strace's one child is webserv (one worker),
    and its main thread, the loop, has the process's id."""
    kids = proctree.children(test.server.proc.pid)
    test.assertEqual(len(kids), 1, kids)
    return kids[0][0]


UNFINISHED = re.compile(r"^(\d+)\s+((\w+)\(.*) <unfinished \.\.\.>$")
RESUMED = re.compile(r"^(\d+)\s+<\.\.\. (\w+) resumed>(.*)$")


def joined(raw):
    """The trace's lines with each call that strace split back in one line.

    When another thread's call comes between a call's start and its end, strace
    writes "TID  name(args <unfinished ...>" and, later, "TID  <... name resumed>rest".
    The two halves become "TID  name(argsrest" in the first half's place, so a
    pattern sees the whole call (thread, arguments and result) and the index of
    every line before it stays the same as the trace grows (tests slice the
    trace at an earlier length). So a call that began before such a slice and
    ended after it falls outside the slice: count calls that start after it.
    Halves pair by thread and call name; a half with no partner stays as it is."""
    out, open_at = [], {}  # thread id -> (index in out, its first half's match)
    for ln in raw:
        m = UNFINISHED.match(ln)
        if m:
            open_at[m.group(1)] = (len(out), m)
            out.append(ln)
            continue
        m = RESUMED.match(ln)
        at, first = open_at.get(m.group(1), (None, None)) if m else (None, None)
        if first and first.group(3) == m.group(2):
            del open_at[m.group(1)]
            out[at] = first.expand(r"\1  \2") + m.group(3)
            continue
        out.append(ln)
    return out


def lines(trace):
    """The trace's lines once strace stopped writing (the same twice 0.1 s apart; at most 5 s),
    with split calls joined (joined())."""
    last = None
    for _ in range(50):
        with open(trace) as f:
            now = f.read().splitlines()
        if now == last:
            return joined(now)
        last = now
        time.sleep(0.1)
    return joined(last)


def count(lines, pattern):
    """How many of the lines pattern finds."""
    return sum(1 for ln in lines if re.search(pattern, ln))


def stop(server):
    """SIGTERM to webserv itself (strace, signalled, would detach and leave it running);
    strace then ends with it. Call it in tearDown before the harness stops the server."""
    proc = server.proc
    if proc.poll() is not None:
        return
    for pid, _ in proctree.children(proc.pid):
        os.kill(pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
