-- POST a new keySet per request, each with its own id.
-- wrk -t1 -c8 -d10s -s create.lua URL/beta/trustFramework/keySets -- TAG BODY_FILE
-- BODY_FILE holds the JSON body with __ID__ where the id goes; ids are TAG1, TAG2, ...
local head, tail, tag
local n = 0

function init(args)
  tag = args[1]
  local file = assert(io.open(args[2], "rb"))
  local body = file:read("*a")
  file:close()
  head, tail = body:match("^(.-)__ID__(.*)$")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  return wrk.format(nil, nil, nil, head .. tag .. n .. tail)
end
