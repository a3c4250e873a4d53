-- A mixed load: per 10 requests, 2 creates, 6 gets of stored key sets, 2 lists of 10.
-- wrk -t1 -c8 -d10s -s mix.lua URL -- TAG BODY_FILE SEEDED COLLECTION
-- Stored key sets are B2C_1A_seed000000 .. B2C_1A_seed<SEEDED-1>; COLLECTION is the path of
-- the keySets collection (/beta/trustFramework/keySets).
local head, tail, tag, seeded, collection, post_headers
local n = 0

function init(args)
  tag = args[1]
  local file = assert(io.open(args[2], "rb"))
  local body = file:read("*a")
  file:close()
  head, tail = body:match("^(.-)__ID__(.*)$")
  seeded = tonumber(args[3])
  collection = args[4]
  math.randomseed(42)
  -- A headers table given to wrk.format replaces wrk.headers (the -H ones): copy them.
  post_headers = {["Content-Type"] = "application/json"}
  for name, value in pairs(wrk.headers) do
    post_headers[name] = value
  end
end

function request()
  n = n + 1
  local slot = n % 10
  if slot < 2 then
    return wrk.format("POST", collection, post_headers, head .. tag .. n .. tail)
  elseif slot < 8 then
    local id = string.format("B2C_1A_seed%06d", math.random(0, seeded - 1))
    return wrk.format("GET", collection .. "/" .. id)
  end
  return wrk.format("GET", collection .. "?$top=10")
end
