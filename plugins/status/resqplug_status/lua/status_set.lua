-- status_set.lua: move a job's status to a state and set fields, atomically.
-- Run as a script of its own, and registered as the write fragment
-- "status.set" (it then rides the core's enqueue and ack scripts).
-- The status is written to the job's own hash. A status still in the shared
-- waiting or finals hash (status_enqueued.lua, status_final.lua) moves there
-- first: what the job was enqueued as becomes the hash's 'enqueued' field.
-- KEYS[1] status hash of the job
-- KEYS[2] prefix of the per-state indexes ('<...>:index:'; the state name is appended)
-- KEYS[3] the core's set of cancelled job ids: a kill was requested of a job
-- whose id is in it, as '<id>' or '!<id>' (see status_kill.lua)
-- KEYS[4] waiting hash (id -> record)   KEYS[5] finals hash (id -> record)
-- ARGV[1] job id   ARGV[2] state   ARGV[3] now (unix time)   ARGV[4] expiry seconds
-- ('0': do not expire; a final state expires, others persist)   ARGV[5] mode:
-- '0' always; '1' change nothing if a kill of the job was requested; '2'
-- change nothing unless the job is waiting to run (queued, scheduled,
-- retrying) with no kill requested (a job removed unrun); '3' a running job
-- (progress, or its worker seeing it run): nothing if a kill was requested, a
-- waiting job becomes ARGV[2], a job in state ARGV[2] only gets the fields,
-- any other state is left alone; '4' change nothing if the state is final (a
-- late write after a newer run ended); '5' only set the fields, if the job
-- is in state ARGV[2]
-- ARGV[6..] field, value pairs to set
-- Index scores are update times. Ids of a final state older than the expiry
-- (their hashes have expired) leave its index, a hundred at a time on one
-- final write in sixteen; statuses that are not final are never pruned. A
-- final state is published on a channel named like the status hash.
-- A running job's kill request ('<id>' in KEYS[3]) ends with its run: the
-- core's ack removes it, and StatusStore does for a final state set directly.
-- Returns the previous state ('' if none); '!kill' if the mode is '1' or '3'
-- and a kill was requested (the job must not start, or must stop); '!busy' if
-- the mode refused the change (nothing changed).
local id, state, now, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local killed = false
if mode == '1' or mode == '2' or mode == '3' then  -- the modes that read it
  killed = redis.call('SISMEMBER', KEYS[3], id) == 1
    or redis.call('SISMEMBER', KEYS[3], '!' .. id) == 1
  if killed and mode ~= '2' then return '!kill' end
end
-- Where the status is: the waiting record, else the finals record, else the
-- job's own hash (an own hash left from an earlier life of the id is stale).
local shared, record, created = KEYS[4], nil, nil
local found = redis.call('HGET', shared, id)
local old
if found then
  old, created, record = found:match('^([^\t]*)\t([^\t]*)\t(.*)$')
else
  shared = KEYS[5]
  found = redis.call('HGET', shared, id)
  if found then old, record = found:match('^[^\t]*'), found:match('\n[^\t]*\t[^\t]*\t(.*)$') end
end
local stale = found and redis.call('HGET', KEYS[1], 'status')
if not found then old = redis.call('HGET', KEYS[1], 'status') end
old = old or ''
local waiting = old == 'queued' or old == 'scheduled' or old == 'retrying'
local final = old == 'completed' or old == 'failed' or old == 'killed'
if (mode == '2' and (killed or not waiting))
    or (mode == '3' and not waiting and old ~= state)
    or (mode == '4' and final)
    or (mode == '5' and old ~= state) then
  return '!busy'
end
if found then redis.call('HDEL', shared, id) end
if stale then
  redis.call('DEL', KEYS[1])
  if stale ~= old and stale ~= state then redis.call('ZREM', KEYS[2] .. stale, id) end
end
if old ~= '' and old ~= state then redis.call('ZREM', KEYS[2] .. old, id) end
local fields = {'status', state, 'updated_at', now}
if old == '' or created then fields[5], fields[6] = 'created_at', created or now end
if record then fields[#fields + 1], fields[#fields + 2] = 'enqueued', record end
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
if final then redis.call('HDEL', KEYS[1], 'final') end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[2] .. state, now, id)
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  if id:byte(-1) % 16 == 0 then  -- one write in 16 (hex ids: ending in 0) prunes up to 100
    local expired = redis.call('ZRANGEBYSCORE', KEYS[2] .. state, '-inf', tonumber(now) - ttl,
      'LIMIT', 0, 100)
    if #expired > 0 then
      redis.call('ZREM', KEYS[2] .. state, unpack(expired))
      redis.call('HDEL', KEYS[5], unpack(expired))
    end
  end
  redis.call('PUBLISH', KEYS[1], state)  -- for wait(): the channel is named like the hash
elseif old ~= '' then
  redis.call('PERSIST', KEYS[1])
end
return old
