"""The process tree as /proc shows it, for tests that look at a server's workers
and the CGI children below them (harness.py, procstat.py, the soak and the
worker tests). Each process is one read of /proc/PID/stat: its parent and state."""
import os


def _stat(pid):
    """(parent pid, state letter) of pid, or None when it is gone."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may itself hold spaces or ')': split after the last one.
    try:
        fields = stat[stat.rindex(")") + 2:].split()
        return int(fields[1]), fields[0]
    except (ValueError, IndexError):
        return None


def table():
    """{pid: (parent pid, state letter)} of every process /proc shows now."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            s = _stat(d)
            if s:
                out[int(d)] = s
    return out


def children(pid, live_only=False):
    """Sorted (pid, state) of every child of pid; live_only leaves zombies out."""
    return sorted((p, state) for p, (parent, state) in table().items()
                  if parent == pid and not (live_only and state == "Z"))


def descendants(pid, procs=None):
    """pid and every process below it, parents before their children."""
    below = {}
    for p, (parent, _) in (procs or table()).items():
        below.setdefault(parent, []).append(p)
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo += sorted(below.get(p, []))
    return out


def alive(pid):
    """Whether pid exists and is not a zombie."""
    s = _stat(pid)
    return s is not None and s[1] != "Z"
