-- wrk script for bench/load.py: one API operation, paced, on random accounts.
--
-- Each connection waits an exponentially distributed pause (mean PACE_MS) before each
-- request, so arrivals are close to a Poisson process at connections / PACE_MS per ms and
-- a slow answer delays only its own connection's next request. Settings come from the
-- environment: OP (getHealthScore | listHealthScores | trackEngagement |
-- refreshHealthScore), IDS_FILE (one account id per line), API_KEY, PACE_MS. At the end
-- the latency percentiles and error counts are printed as one JSON line.

local op = os.getenv("OP")
local key = os.getenv("API_KEY")
local pace = tonumber(os.getenv("PACE_MS"))
local ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do
  ids[#ids + 1] = line
end
local tiers = { "at_risk", "monitor" }

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("seed", os.time() * 100 + threads)
end

function init(args)
  math.randomseed(seed)
end

function delay()
  return -math.log(1 - math.random()) * pace
end

local function hex(n)
  local out = {}
  for i = 1, n do
    out[i] = string.format("%x", math.random(0, 15))
  end
  return table.concat(out)
end

function request()
  local id = ids[math.random(#ids)]
  local headers = { ["X-API-Key"] = key }
  if op == "getHealthScore" then
    return wrk.format("GET", "/api/v1/health-scores/" .. id, headers)
  elseif op == "listHealthScores" then
    local path = string.format(
      "/api/v1/health-scores?page=%d&tier=%s", math.random(1, 20), tiers[math.random(2)]
    )
    return wrk.format("GET", path, headers)
  elseif op == "trackEngagement" then
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = hex(32)
    local body = string.format(
      '{"customerId": "%s", "eventType": "login", "userId": "u-load"}', id
    )
    return wrk.format("POST", "/api/v1/engagement-events", headers, body)
  else
    return wrk.format("POST", "/api/v1/health-scores/" .. id .. "/refresh", headers)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"op": "%s", "requests": %d, "seconds": %.3f, "errors": %d, '
      .. '"mean": %.3f, "p50": %.3f, "p95": %.3f, "p99": %.3f, "max": %.3f}\n',
    op, summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.status + e.timeout, latency.mean / 1000,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000
  ))
end
