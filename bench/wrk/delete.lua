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

-- setup(), response() and done(): the counting every script here shares.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "summary.lua")

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
