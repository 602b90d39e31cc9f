-- fetch.lua: take up to N jobs from the first non-empty queue into the worker's
-- in-flight list, in one atomic step (strict priority: earlier queues first).
-- Jobs whose id is in the cancelled set are taken out of the queue but not
-- into the in-flight list, and leave the set: they never run (the set is
-- looked at only when it is not empty, and then each payload is decoded). A
-- member '!<id>' is a job whose canceller announced its removal itself.
-- KEYS[1] the worker's in-flight list     KEYS[2] set of cancelled job ids
-- KEYS[3..] queue lists, highest priority first
-- ARGV[1] most jobs to take
-- ARGV[2] '1': entries are '<queue name>\t<payload>' (a worker of several queues);
--         '0': entries are the bare payload (a worker of one queue, named in its id)
-- ARGV[3..] queue names, same order as KEYS[3..]
-- Returns {queue name, n, m, n payloads taken, m payloads dropped as
-- cancelled (to announce), then those dropped quietly}, or {} when every
-- queue is empty.
local function cancelled(payload)
  local ok, doc = pcall(cjson.decode, payload)
  if not ok or type(doc) ~= 'table' or type(doc.id) ~= 'string' then return nil end
  local plain = redis.call('SREM', KEYS[2], doc.id) == 1
  -- both forms leave; announced already ('!') wins: announced once
  if redis.call('SREM', KEYS[2], '!' .. doc.id) == 1 then return 'quiet' end
  if plain then return 'announce' end
  return nil
end

local prefixed = ARGV[2] == '1'
for i = 3, #KEYS do
  local items = redis.call('LPOP', KEYS[i], ARGV[1])
  if items then
    local queue = ARGV[i]
    local dropped, quiet = {}, {}
    if redis.call('SCARD', KEYS[2]) > 0 then
      local kept = {}
      for _, item in ipairs(items) do
        local how = cancelled(item)
        if how == 'announce' then dropped[#dropped + 1] = item
        elseif how == 'quiet' then quiet[#quiet + 1] = item
        else kept[#kept + 1] = item end
      end
      items = kept
    end
    if #items > 0 then
      if prefixed then
        local entries = {}
        for j, item in ipairs(items) do entries[j] = queue .. '\t' .. item end
        redis.call('RPUSH', KEYS[1], unpack(entries))
      else
        redis.call('RPUSH', KEYS[1], unpack(items))
      end
    end
    local reply = {queue, #items, #dropped}
    for _, item in ipairs(items) do reply[#reply + 1] = item end
    for _, item in ipairs(dropped) do reply[#reply + 1] = item end
    for _, item in ipairs(quiet) do reply[#reply + 1] = item end
    return reply
  end
end
return {}
