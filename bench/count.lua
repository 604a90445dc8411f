-- wrk script for profiling: stop after a fixed number of responses
-- (WRK_REQUESTS, default 20000), so a run under valgrind or strace does a
-- known amount of work. One wrk thread only.
local limit = tonumber(os.getenv("WRK_REQUESTS") or "20000")
local seen = 0
response = function(status, headers, body)
  seen = seen + 1
  if seen >= limit then
    wrk.thread:stop()
  end
end
done = function(summary, latency, requests)
  io.write(string.format("COUNT requests=%d errors=%d\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout))
end
