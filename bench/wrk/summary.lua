-- The counting shared by the wrk scripts here (dofile'd by each): every thread counts its
-- answers, and done() prints one machine-readable line (WRK_JSON) after wrk's own summary,
-- for bench/report.py and bench/sqlite.py. A script sets issued, ok, non2xx, exhausted and
-- statuses in its init(), and counts issued (and exhausted) in its request().

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
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
