-- status_final.lua: the final state of runs ("completed", "failed"), as the
-- batched write fragment "status.final" (resqplug.ext.Batched): it runs once
-- per ack, for every job of the batch the worker acknowledges.
-- A job still in the waiting hash (the common case: it ran without being
-- seen running) moves to the shared finals hash: a few commands for the
-- whole batch, not a hash and its expiry per job. A job with a status of its
-- own (seen running, progress, retried) gets its final state there, with the
-- expiry. The final state of a job someone waits on (wait(): in the
-- waiters zset) is published on a channel named like the job's hash; a
-- PUBLISH per job costs more than the rest of its status. Records of the finals hash older than the expiry leave it,
-- with their index entries, up to a hundred per state per call.
-- Where a status is read, the waiting record comes first, then the finals
-- hash, then the job's own hash (store.py's module doc).
-- KEYS (shared): [1] waiting hash   [2] finals hash   [3] prefix of the
--                 per-state indexes   [4] prefix of the jobs' own hashes
--                 [5] waiters (zset: job id -> until when someone waits)
-- SHARED: [1] state   [2] expiry seconds
-- ARGV per write: [1] job id   [2] the run's fields, a JSON object
-- COUNT the number of writes. Record formats: see status_enqueued.lua (the
-- waiting record rides along in the final one, unparsed). The
-- time of the change is the server's (one TIME for the batch).
local W, F, P, OWN, WAITERS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local CHUNK = 500
local clock = redis.call('TIME')
local now = clock[1] .. '.' .. string.format('%06d', tonumber(clock[2]))

local function each_chunk(list, step, call)
  for i = 1, #list, CHUNK * step do
    call(unpack(list, i, math.min(i + CHUNK * step - 1, #list)))
  end
end

local function add(lists, name, a, b)
  local list = lists[name]
  if not list then list = {}; lists[name] = list end
  list[#list + 1] = a
  if b then list[#list + 1] = b end
end

local state, ttl = SHARED[1], tonumber(SHARED[2])
local ids = {}
for i = 1, COUNT do ids[i] = ARGV[2 * i - 1] end
local waiting = {}
for i = 1, #ids, CHUNK do
  local part = redis.call('HMGET', W, unpack(ids, i, math.min(i + CHUNK - 1, #ids)))
  for j = 1, #part do waiting[i + j - 1] = part[j] end
end
local records, left, removed, added = {}, {}, {}, {}
for i = 1, COUNT do
  local id, json = ids[i], ARGV[2 * i]
  local carried, old = waiting[i], nil  -- the waiting record goes along
  if carried then
    left[#left + 1] = id
    local tab = carried:find('\t', 1, true)  -- none: a record not written here
    old = tab and carried:sub(1, tab - 1) or nil
  else
    local final = redis.call('HGET', F, id)
    if final then  -- an earlier run's final record (this run was not enqueued again)
      old = final:match('^[^\t]*')
      carried = final:sub((final:find('\n', 1, true) or #final) + 1)
    else
      old = redis.call('HGET', OWN .. id, 'status')
      if old then  -- a status of its own: the final state goes there, and expires
        redis.call('HSET', OWN .. id, 'status', state, 'updated_at', now, 'final', json)
        redis.call('EXPIRE', OWN .. id, ttl)
      end
    end
    if not old then carried = '' end  -- no status (enqueued before this plugin)
  end
  if carried then
    records[#records + 1] = id
    records[#records + 1] = state .. '\t' .. now .. '\t' .. json .. '\n' .. carried
  end
  if old and old ~= state then add(removed, old, id) end
  add(added, state, now, id)
end
-- Publish for the jobs someone waits on; their waits are over, and waits
-- whose time passed (a waiter that went away) leave too.
if redis.call('ZCARD', WAITERS) > 0 then
  for i = 1, #ids, CHUNK do
    local part = {unpack(ids, i, math.min(i + CHUNK - 1, #ids))}
    local scores = redis.call('ZMSCORE', WAITERS, unpack(part))
    for j = 1, #part do
      if scores[j] then
        redis.call('PUBLISH', OWN .. part[j], state)
        redis.call('ZREM', WAITERS, part[j])
      end
    end
  end
  redis.call('ZREMRANGEBYSCORE', WAITERS, '-inf', '(' .. now)
end
each_chunk(left, 1, function(...) redis.call('HDEL', W, ...) end)
for state, list in pairs(removed) do
  each_chunk(list, 1, function(...) redis.call('ZREM', P .. state, ...) end)
end
each_chunk(records, 2, function(...) redis.call('HSET', F, ...) end)
for state, list in pairs(added) do
  each_chunk(list, 2, function(...) redis.call('ZADD', P .. state, ...) end)
  local expired = redis.call('ZRANGEBYSCORE', P .. state, '-inf', tonumber(now) - ttl,
    'LIMIT', 0, 100)
  if #expired > 0 then
    redis.call('ZREM', P .. state, unpack(expired))
    redis.call('HDEL', F, unpack(expired))
  end
end
