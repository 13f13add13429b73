-- wrk script: Entra's POST /Users with the full body of entra-user.json,
-- unique per request (userName, externalId, emails, employeeNumber).
-- Arguments (after --): path of entra-user.json, a run number unique to
-- this wrk run (so runs against one database never collide).
local tmpl, run, n = nil, 0, 0

function setup(thread)
  tid_next = (tid_next or 0) + 1
  thread:set("tid", tid_next)
end

function init(args)
  local f = assert(io.open(args[1], "r"))
  tmpl = f:read("*a")
  f:close()
  run = tonumber(args[2]) or 0
end

function request()
  n = n + 1
  local key = string.format("r%d.t%d.%d", run, tid, n)
  local guid = string.format("%08x-%04x-4000-8000-%012x", run % 4294967296, tid, n)
  local body = tmpl:gsub("{{n}}", key)
  body = body:gsub("{{guid}}", guid)
  return wrk.format("POST", nil, nil, body)
end
