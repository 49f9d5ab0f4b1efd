-- wrk script for the Scripts/hardening soak: cycles through a mix of valid requests (small, large,
-- sliding-window, text, multiple choice, top-k, tokenize, detokenize, completions, GETs) and invalid
-- ones (400, 404, 405, 422), counting every answer by status. For a model with GPT-2's vocabulary and
-- n_positions >= 256 (the bundled one). Oversized bodies and disconnecting clients come from the
-- Python driver, not from wrk (wrk counts a refused body as a socket error).
--
--   wrk -tT -cC -dD -s mixed.lua http://127.0.0.1:PORT
--
-- done() prints: HARDEN requests=… connect=… read=… write=… timeout=… … s200=… s400=… …
-- plus bad_body (a 2xx whose body is not a JSON object, or an error without "error").

local seed = 777
local function rnd(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n
end
local function ids(n, vocab)
  local t = {}
  for i = 1, n do t[i] = tostring(rnd(vocab)) end
  return "[" .. table.concat(t, ",") .. "]"
end
local json = "application/json"
local mix = {}
local function add(weight, method, path, body)
  for _ = 1, weight do table.insert(mix, { method = method, path = path, body = body }) end
end
for _ = 1, 8 do add(3, "POST", "/score", '{"sequences": [' .. ids(16, 50257) .. ']}') end
add(2, "POST", "/score", '{"sequences": [' .. ids(200, 50257) .. ',' .. ids(120, 50257) .. ']}')
add(1, "POST", "/score", '{"sequences": [' .. ids(600, 50257) .. '], "window": {"stride": 128}}')
add(2, "POST", "/score", '{"texts": ["The cat sat on the mat.", "It was a dark and stormy night; the rain fell in torrents."], "return_tokens": true}')
add(1, "POST", "/score", '{"choices": [{"context": ' .. ids(40, 50257) .. ', "continuations": [' .. ids(3, 50257) .. ',' .. ids(5, 50257) .. ']}]}')
add(1, "POST", "/score", '{"sequences": [' .. ids(32, 50257) .. '], "top_k": 5, "probabilities": true}')
add(1, "POST", "/score", '{"inputs": [' .. ids(8, 50257) .. '], "targets": [' .. ids(8, 50257) .. ']}')
add(1, "POST", "/tokenize", '{"texts": ["Hello world", "Mr. Darcy was not a man to be trifled with."], "offsets": true}')
add(1, "POST", "/detokenize", '{"tokens": [15496, 995]}')
add(1, "POST", "/v1/completions", '{"prompt": "The capital of France is", "echo": true, "logprobs": 1, "max_tokens": 1}')
add(2, "POST", "/score", '{"sequences": [[1, 2, 3')                       -- 400 malformed_json
add(1, "POST", "/score", 'not json at all')                               -- 400
add(2, "POST", "/score", '{"sequences": [[1, 2, 50257]]}')               -- 422 invalid_value
add(1, "POST", "/score", '{"sequences": [[1, 2]], "bogus": 1}')          -- 422 unknown_field
add(1, "POST", "/score", '{"sequences": [[1.5, 2]]}')                    -- 422 invalid_type
add(1, "POST", "/v1/completions", '{"prompt": "x", "max_tokens": 5}')    -- 422 unsupported_value
add(2, "GET", "/healthz", nil)
add(1, "GET", "/v1/model", nil)
add(1, "GET", "/v1/models", nil)
add(1, "GET", "/metrics", nil)
add(1, "GET", "/no-such-path", nil)                                      -- 404
add(1, "GET", "/score", nil)                                             -- 405
add(1, "DELETE", "/healthz", nil)                                        -- 405

local threads = {}
setup = function(thread) table.insert(threads, thread) end

counts = {}
bad_body = 0
local counter = 0

init = function(args)
  counter = math.random(0, #mix - 1)
end

request = function()
  counter = counter + 1
  local r = mix[(counter % #mix) + 1]
  local headers = {}
  if r.body ~= nil then headers["Content-Type"] = json end
  return wrk.format(r.method, r.path, headers, r.body)
end

response = function(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if body ~= nil and #body > 0 then
    local first = string.sub(body, 1, 1)
    local is_metrics = string.sub(body, 1, 1) == "#"
    if status < 300 and first ~= "{" and not is_metrics then bad_body = bad_body + 1 end
    if status >= 400 and not string.find(body, '"error"', 1, true) then bad_body = bad_body + 1 end
  end
end

done = function(summary, latency, requests)
  local total, bb = {}, 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do total[status] = (total[status] or 0) + n end
    bb = bb + thread:get("bad_body")
  end
  local parts = {}
  for status, n in pairs(total) do table.insert(parts, string.format("s%d=%d", status, n)) end
  table.sort(parts)
  io.write(string.format(
    "HARDEN requests=%d connect=%d read=%d write=%d timeout=%d duration_s=%.3f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f bad_body=%d %s\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    bb, table.concat(parts, " ")))
end
