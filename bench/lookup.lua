-- wrk script: Entra's matching lookup, GET <url>?filter=userName eq "<user>",
-- for users picked at random among those bench/seed created.
-- Arguments (after --): number of seeded users.
local users = 20000

function setup(thread)
  thread:set("tid", (tid_next or 0) + 1)
  tid_next = (tid_next or 0) + 1
end

function init(args)
  users = tonumber(args[1]) or users
  math.randomseed(os.time() * 100 + (tid or 0))
end

function request()
  -- the userName of entra-user.json with {{n}} = "s<i>" (bench/seed/main.go)
  local path = wrk.path .. "?filter=userName+eq+%22bench.s" .. math.random(1, users) .. "%40contoso.example%22"
  return wrk.format("GET", path)
end
