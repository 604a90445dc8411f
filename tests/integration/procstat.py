"""What /proc says about the server under test: its memory (VmRSS, VmHWM),
sampled in a thread, and its children (zombies). Linux only. Not a test file
itself (ctest registers only test_*.py)."""
import os
import threading
import time

import harness
import proctree

# Figures from a sanitizer or valgrind build say little about the server's own
# memory use; tests scale their sizes down there and may use looser bounds.
ASAN = "asan" in harness.BIN.lower()
VALGRIND = harness.VALGRIND


def status_kib(pid, field):
    """A 'kB' field of /proc/PID/status (VmRSS, VmHWM), in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


class RssSampler:
    """Samples VmRSS every `period` seconds in a thread; growth() is the peak
    (the largest sample, or VmHWM when it says more) above the RSS at start,
    in bytes."""

    def __init__(self, pid, period=0.02):
        self.pid, self.period = pid, period
        self.start_rss = status_kib(pid, "VmRSS")
        self.peak = self.start_rss
        self.hwm_before = status_kib(pid, "VmHWM")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                rss = status_kib(self.pid, "VmRSS")
                hwm = status_kib(self.pid, "VmHWM")
            except (OSError, KeyError):
                return
            # VmHWM only counts when it rose during the measurement.
            self.peak = max(self.peak, rss, hwm if hwm > self.hwm_before else 0)
            self._stop.wait(self.period)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        try:
            hwm = status_kib(self.pid, "VmHWM")
            if hwm > self.hwm_before:
                self.peak = max(self.peak, hwm)
        except (OSError, KeyError):
            pass
        return False

    def growth(self):
        return (self.peak - self.start_rss) * 1024


def children(pid):
    """(pid, state) of every process whose parent is pid."""
    return proctree.children(pid)


def zombies(pid):
    return [c for c, state in children(pid) if state == "Z"]


def wait_no_zombies(pid, timeout=2.0):
    """The zombies of pid still there after timeout seconds ([] when none)."""
    deadline = time.monotonic() + timeout
    while True:
        z = zombies(pid)
        if not z or time.monotonic() > deadline:
            return z
        time.sleep(0.02)
