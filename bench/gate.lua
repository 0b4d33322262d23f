-- wrk script of bench/gate.py: POST one JSON body per line of a file, in turn, with a bearer
-- token; count the answers by HTTP status; print one "BENCH_JSON {...}" line at the end.
--   wrk -t2 -c16 -d20s -s bench/gate.lua http://127.0.0.1:PORT -- PATH TOKEN BODIES_FILE
-- With BENCH_THINK_MS set, each connection waits a random 0 to 2x that many milliseconds
-- before each request (clients with think time); wrk times a request from its sending.

local think = tonumber(os.getenv("BENCH_THINK_MS") or "")
if think and think > 0 then
  function delay()
    return math.random() * 2 * think
  end
end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("thread_no", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local bodies = {}
local headers = {}
local path = "/"
local i = 0
statuses = {}

function init(args)
  path = args[1]
  headers["Authorization"] = "Bearer " .. args[2]
  headers["Content-Type"] = "application/json"
  for line in io.lines(args[3]) do
    if #line > 0 then
      bodies[#bodies + 1] = line
    end
  end
  -- Threads start at different places in the rotation.
  i = math.floor(thread_no * #bodies / 2) % #bodies
end

function request()
  i = i % #bodies + 1
  return wrk.format("POST", path, headers, bodies[i])
end

function response(status, _, _)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, _)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    parts[#parts + 1] = string.format('"%d": %d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "max": %d, '
      .. '"p50": %d, "p90": %d, "p99": %d, "p99.9": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), table.concat(parts, ", ")))
end
