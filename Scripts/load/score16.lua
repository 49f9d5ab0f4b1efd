-- wrk script: POST /score with one 16-token sequence per request (15 scored tokens).
-- Bodies cycle through 64 different sequences so no two consecutive requests are identical.
-- Token ids stay below 1000 so the same script works with the tiny test models.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local bodies = {}
local seed = 12345
local function next_id()
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % 1000
end
for i = 1, 64 do
  local ids = {}
  for t = 1, 16 do ids[t] = tostring(next_id()) end
  bodies[i] = '{"sequences": [[' .. table.concat(ids, ",") .. ']]}'
end

local counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, bodies[(counter % 64) + 1])
end

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  io.write(string.format("LOADBENCH requests=%d errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d duration_s=%.3f p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
