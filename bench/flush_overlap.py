#!/usr/bin/env python3
"""Can the flush of a big upload overlap its writes on this machine's disk? (issue 21)

Writes 1 GiB of zeros to a new file in FOLDER the way webserv's spool does (the blocks reserved
with fallocate, 1.75 MiB O_DIRECT writes from one huge page), with a pause after each write that
stands for a client slower than the disk, then fsyncs. With --every N, another thread calls
fdatasync after each N MiB while the writes go on. If the device could take writes while it
flushes, the final fsync would shrink by about what the early ones flushed and the total would
drop; if it serialises them, the writes stretch by the time the early flushes took and the
total stays. Prints the time of the writes, of the last flush, and in all.

Usage: bench/flush_overlap.py FOLDER [--every MIB] [--pause-us US]
(run it with and without --every; FOLDER on the disk under test, e.g. the bench's uploads)
"""
import argparse
import os
import queue
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runners import huge_page_buffer, HUGE  # noqa: E402

TOTAL = 1 << 30


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--every", type=int, default=0, help="fdatasync after each MIB MiB, beside the writes")
    ap.add_argument("--pause-us", type=float, default=600, help="pause after each write (a slower client)")
    a = ap.parse_args()
    buf, view = huge_page_buffer(HUGE - (256 << 10))
    path = os.path.join(a.folder, ".flush-overlap.bin")
    os.sync()
    start = time.monotonic()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT | os.O_CLOEXEC, 0o600)
    try:
        os.posix_fallocate(fd, 0, TOTAL)
        asks, early = queue.Queue(), []

        def flusher():
            while asks.get():
                t = time.monotonic()
                os.fdatasync(fd)
                early.append(time.monotonic() - t)
        th = threading.Thread(target=flusher)
        th.start()
        done, next_flush = 0, a.every << 20
        while done < TOTAL:
            n = min(len(view), TOTAL - done)
            if os.pwrite(fd, view[:n], done) != n:
                raise OSError("short write")
            done += n
            if a.pause_us:
                time.sleep(a.pause_us / 1e6)
            if a.every and done >= next_flush and asks.empty():
                asks.put(True)
                next_flush += a.every << 20
        writes = time.monotonic() - start
        asks.put(False)
        th.join()
        t = time.monotonic()
        os.fsync(fd)
        last = time.monotonic() - t
    finally:
        os.close(fd)
        total = time.monotonic() - start  # not the unlink: freeing 1 GiB of blocks took 0.35 s here
        os.unlink(path)
        view.release()
        buf.close()
    print("every %s: writes %.0f ms, %d early flushes %.0f ms in all, last fsync %.0f ms, total %.0f ms (%.0f MB/s)"
          % ("%d MiB" % a.every if a.every else "-", writes * 1e3, len(early), sum(early) * 1e3,
             last * 1e3, total * 1e3, TOTAL / total / 1e6))


if __name__ == "__main__":
    main()
