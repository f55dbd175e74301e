-- wrk script: one GET, again and again (the c=1 floors of bench/sqlite.sh).
--
--   wrk -t 1 -c 1 -d 8s http://127.0.0.1:PORT -s get.lua -- PATH [TOKEN]

-- setup(), response() and done(): the counting every script here shares.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "summary.lua")

function init(args)
  path = args[1]
  headers = {}
  if args[2] then headers["Authorization"] = "Bearer " .. args[2] end
  issued, ok, non2xx, exhausted = 0, 0, 0, 0
  statuses = {}
end

function request()
  issued = issued + 1
  return wrk.format("GET", path, headers)
end
