-- wrk script: DeleteChatMember on distinct (session, member) pairs.
--
--   wrk -t T -c C -d 8s --timeout 5s http://127.0.0.1:PORT -s delete.lua -- \
--       FIRST COUNT THREADS KFIRST KLAST TOKEN [keyed]
--
-- Session numbers FIRST .. FIRST+COUNT-1 are split into THREADS equal slices, one per wrk
-- thread (each wrk thread has its own Lua state, and the connections of a thread share it,
-- so one counter per thread hands every request a pair no other request gets).
-- The n-th request of a thread removes member KFIRST + n / width from session
-- lo + n % width: it sweeps its slice removing agent KFIRST everywhere, then KFIRST+1, ...
-- Past KLAST the slice is exhausted: the request names a member that does not exist (404),
-- so an under-sized partition shows up as non-2xx answers, never as silent re-removals.
-- Session IDs: bench.sid(i) in bench/sql/schema.sql (same formula, exact in doubles).

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local first, count, nthreads = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
  kfirst, klast = tonumber(args[4]), tonumber(args[5])
  width = math.floor(count / nthreads)
  lo = first + tid * width
  headers = { ["Authorization"] = "Bearer " .. args[6] }
  -- "keyed": every request carries an Idempotency-Key of its own (what a keyed removal costs).
  keyed = args[7] == "keyed"
  -- Keys unique across runs too: a warm-up and the measured run must not share a key.
  started = os.time()
  issued, ok, non2xx, exhausted = 0, 0, 0, 0
  statuses = {}
end

local function sid(i)
  return string.format("%.0f", 1e15 + ((i * 2654435761) % 4294967296) * 1e6 + i)
end

function request()
  local n = issued
  issued = issued + 1
  local i = lo + n % width
  local k = kfirst + math.floor(n / width)
  local member = "agent" .. k .. "@example.com"
  if k > klast then
    exhausted = exhausted + 1
    member = "exhausted@example.com"
  end
  if keyed then
    headers["Idempotency-Key"] = string.format("bench-%d-%d-%d", started, tid, n)
  end
  return wrk.format("DELETE", "/sessions/" .. sid(i) .. "/members/" .. member, headers)
end

function response(status, hdrs, body)
  if status == 200 then
    ok = ok + 1
  else
    non2xx = non2xx + 1
    statuses[status] = (statuses[status] or 0) + 1
    if non2xx <= 3 then io.stderr:write("non-200: " .. status .. " " .. (body or "") .. "\n") end
  end
end

-- One machine-readable line for bench/report.py, after wrk's own summary.
function done(summary, latency, requests)
  local t_issued, t_ok, t_non2xx, t_exhausted, by_code, codes = 0, 0, 0, 0, {}, {}
  for _, thread in ipairs(threads) do
    t_issued = t_issued + thread:get("issued")
    t_ok = t_ok + thread:get("ok")
    t_non2xx = t_non2xx + thread:get("non2xx")
    t_exhausted = t_exhausted + thread:get("exhausted")
    for code, count in pairs(thread:get("statuses")) do
      by_code[code] = (by_code[code] or 0) + count
    end
  end
  for code, count in pairs(by_code) do
    table.insert(codes, string.format('"%d":%d', code, count))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"duration_us":%d,"requests":%d,"issued":%d,"ok":%d,"non2xx":%d,"exhausted":%d,' ..
    '"statuses":{%s},"socket_errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.duration, summary.requests, t_issued, t_ok, t_non2xx, t_exhausted,
    table.concat(codes, ","), e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
