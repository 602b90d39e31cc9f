-- status_enqueued.lua: "queued" (or "scheduled") for jobs being written, as
-- the batched write fragment "status.enqueued" (resqplug.ext.Batched): it runs
-- once per enqueue script, for every job of an enqueue_many batch. Each job
-- gets a field in the shared waiting hash: one HSET and one ZADD for the
-- whole batch, not a hash per job. Only jobs on their first attempt come here
-- (store.py: StatusNames.enqueued); a record of an earlier life of the id in
-- the waiting or finals hash is replaced, and leaves its index.
-- Where a status is read, the waiting record comes first, then the finals
-- hash, then the job's own hash (store.py's module doc).
-- KEYS (shared): [1] waiting hash (id -> record)   [2] finals hash (id -> record)
--                 [3] prefix of the per-state indexes
-- SHARED: [1] state   [2] now (unix time)   [3] due time ('' when none)   [4] queue
--         [5] 'new' when the ids are new (resqplug.Job.new_id): nothing to replace
-- ARGV per write: [1] job id
-- COUNT the number of writes; JOBS per write, the payload of its job.
-- Records (store.py parses them):
-- waiting: '<state>\t<updated>\t<enqueued>', where <enqueued> is
--   '<due>\t<queue>\t<payload>' (a payload over PAYLOAD_LIMIT bytes without
--   its args);
-- final: '<state>\t<updated>\t<JSON>\n<the waiting record it had, or nothing>'.
local W, F, P = KEYS[1], KEYS[2], KEYS[3]
local CHUNK = 500
local PAYLOAD_LIMIT = 4096

-- The payload as kept: a big one without its args (its size instead).
local function kept(payload)
  if #payload <= PAYLOAD_LIMIT then return payload end
  local ok, doc = pcall(cjson.decode, payload)
  if not ok or type(doc) ~= 'table' then return '' end
  return cjson.encode({class = doc.class, id = doc.id, enqueued_at = doc.enqueued_at,
    meta = doc.meta, args = {truncated = true, size = #payload}})
end

local function each_chunk(list, step, call)
  for i = 1, #list, CHUNK * step do
    call(unpack(list, i, math.min(i + CHUNK * step - 1, #list)))
  end
end

local function hmget(key, ids)
  local out = {}
  for i = 1, #ids, CHUNK do
    local part = redis.call('HMGET', key, unpack(ids, i, math.min(i + CHUNK - 1, #ids)))
    for j = 1, #part do out[i + j - 1] = part[j] end
  end
  return out
end

local state, now = SHARED[1], SHARED[2]
local head = state .. '\t' .. now .. '\t' .. SHARED[3] .. '\t' .. SHARED[4] .. '\t'
local ids = ARGV
local waiting, finals = {}, {}
if SHARED[5] ~= 'new' then waiting, finals = hmget(W, ids), hmget(F, ids) end
local records, scores = {}, {}
for i = 1, COUNT do
  local id = ids[i]
  local older = waiting[i] or finals[i]
  if older then  -- an earlier life of the id in a shared hash
    local was = older:match('^[^\t]*')
    if was ~= state then redis.call('ZREM', P .. was, id) end
    if finals[i] then redis.call('HDEL', F, id) end
  end
  records[2 * i - 1] = id
  records[2 * i] = head .. kept(JOBS[i] or '')
  scores[2 * i - 1], scores[2 * i] = now, id
end
each_chunk(records, 2, function(...) redis.call('HSET', W, ...) end)
each_chunk(scores, 2, function(...) redis.call('ZADD', P .. state, ...) end)
