-- wrk script for Scripts/hardening: POST /score with one 16-token sequence per request (ids < 1000),
-- optionally paced, counting every answer by status in Lua.
--
--   wrk -tT -cC -dD -s paced.lua URL -- MODE VALUE C T
--     MODE rate  VALUE: target total requests/s; each thread adapts the delay before each request
--                       (wrk's delay()) once a second so that the offered rate stays near VALUE
--                       whatever the latency (admitted requests are slow, 429s are fast)
--     MODE delay VALUE: a fixed VALUE ms before each request on each connection (a low-rate client)
--     MODE none  0    : closed loop, as fast as the server answers
--
-- done() prints one line:
--   HARDEN requests=… connect=… read=… write=… timeout=… duration_s=… p50_ms=… p99_ms=… max_ms=…
--          missing_retry_after=… bad_body=… delay_ms=… s200=… s429=… …
-- (every status seen as sSTATUS=count; a 429 without a positive integer Retry-After is counted in
-- missing_retry_after; a 200 whose body lacks "results" in bad_body).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local bodies = {}
local seed = 4242
local function next_id()
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % 1000
end
for i = 1, 64 do
  local ids = {}
  for t = 1, 16 do ids[t] = tostring(next_id()) end
  bodies[i] = '{"sequences": [[' .. table.concat(ids, ",") .. ']]}'
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end

-- Globals (read back with thread:get in done()).
counts = {}
missing_retry = 0
bad_body = 0
delay_ms = 0

local mode, target, per_thread_conns
local counter = 0
local window_start, window_count, windows = nil, 0, 0

init = function(args)
  mode = args[1] or "none"
  local value = tonumber(args[2] or "0")
  local conns = tonumber(args[3] or "1")
  local nthreads = tonumber(args[4] or "1")
  per_thread_conns = conns / nthreads
  if mode == "rate" then
    target = value / nthreads
    delay_ms = 1000 * per_thread_conns / target
  elseif mode == "delay" then
    delay_ms = value
  end
  counter = math.random(0, 63)
end

delay = function() return delay_ms end

request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, bodies[(counter % 64) + 1])
end

-- Once a second (os.time), move the delay toward the one giving the target rate:
-- rate = conns / (delay + latency)  =>  delay = conns / target - latency.
local function adapt()
  local now = os.time()
  if window_start == nil then window_start = now; return end
  if now == window_start then return end
  windows = windows + 1
  if mode == "rate" and windows >= 2 and window_count > 0 then
    local measured = window_count / (now - window_start)
    local latency = 1000 * per_thread_conns / measured - delay_ms
    if latency < 0 then latency = 0 end
    local want = 1000 * per_thread_conns / target - latency
    if want < 0 then want = 0 end
    delay_ms = 0.5 * delay_ms + 0.5 * want
  end
  window_start, window_count = now, 0
end

response = function(status, headers, body)
  window_count = window_count + 1
  adapt()
  counts[status] = (counts[status] or 0) + 1
  if status == 429 then
    local retry = nil
    for name, value in pairs(headers) do
      if string.lower(name) == "retry-after" then retry = tonumber(value) end
    end
    if retry == nil or retry < 1 then missing_retry = missing_retry + 1 end
  elseif status == 200 then
    if body == nil or not string.find(body, '"results"', 1, true) then bad_body = bad_body + 1 end
  end
end

done = function(summary, latency, requests)
  local total, mr, bb, dsum = {}, 0, 0, 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do total[status] = (total[status] or 0) + n end
    mr = mr + thread:get("missing_retry")
    bb = bb + thread:get("bad_body")
    dsum = dsum + thread:get("delay_ms")
  end
  local parts = {}
  for status, n in pairs(total) do table.insert(parts, string.format("s%d=%d", status, n)) end
  table.sort(parts)
  io.write(string.format(
    "HARDEN requests=%d connect=%d read=%d write=%d timeout=%d duration_s=%.3f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f missing_retry_after=%d bad_body=%d delay_ms=%.1f %s\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    mr, bb, dsum / math.max(#threads, 1), table.concat(parts, " ")))
end
