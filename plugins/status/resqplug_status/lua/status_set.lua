-- status_set.lua: move a job's status to a state and set fields, atomically.
-- Run as a script of its own, and registered as the write fragment
-- "status.set" (it then rides the core's enqueue and ack scripts).
-- KEYS[1] status hash of the job    KEYS[2] index of all statuses (zset)
-- KEYS[3] prefix of per-state indexes ('<...>:index:'; the state name is appended)
-- KEYS[4] the core's set of cancelled job ids: a kill was requested of a job
-- whose id is in it, as '<id>' or '!<id>' (see status_kill.lua)
-- ARGV[1] job id   ARGV[2] state   ARGV[3] now (unix time)   ARGV[4] expiry seconds
-- ('0': do not expire; a final state expires, others persist)   ARGV[5] pub/sub channel
-- ARGV[6] mode: '0' always; '1' change nothing if a kill of the job was
-- requested; '2' change nothing unless the job is waiting to run (queued,
-- scheduled, retrying) with no kill requested (a job removed unrun); '3' a
-- running job (progress, or its worker seeing it run): nothing if a kill was
-- requested, a waiting job becomes ARGV[2], a job in state ARGV[2] only gets
-- the fields, any other state is left alone; '4' change nothing if the state
-- is final (a late write after a newer run ended)
-- ARGV[7..] field, value pairs to set
-- Index scores are update times. On a final state a running job's kill
-- request ends ('<id>'; a waiting job's '!<id>' stays until a worker drops it), and
-- ids of this final state older than the expiry (their hashes have expired)
-- leave the indexes; statuses that are not final are never pruned.
-- Returns the previous state ('' if none); '!kill' if the mode is '1' or '3'
-- and a kill was requested (the job must not start, or must stop); '!busy' if
-- the mode refused the change (nothing changed).
local mode = ARGV[6]
local killed = false
if mode == '1' or mode == '2' or mode == '3' then  -- the modes that read it
  killed = redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 1
    or redis.call('SISMEMBER', KEYS[4], '!' .. ARGV[1]) == 1
  if killed and mode ~= '2' then return '!kill' end
end
local old = redis.call('HGET', KEYS[1], 'status') or ''
local waiting = old == 'queued' or old == 'scheduled' or old == 'retrying'
local final = old == 'completed' or old == 'failed' or old == 'killed'
if (mode == '2' and (killed or not waiting))
    or (mode == '3' and not waiting and old ~= ARGV[2])
    or (mode == '4' and final) then
  return '!busy'
end
if old ~= '' and old ~= ARGV[2] then redis.call('ZREM', KEYS[3] .. old, ARGV[1]) end
local fields = {'status', ARGV[2], 'updated_at', ARGV[3]}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
if old == '' then redis.call('HSETNX', KEYS[1], 'created_at', ARGV[3]) end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3] .. ARGV[2], ARGV[3], ARGV[1])
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('SREM', KEYS[4], ARGV[1])
  local horizon = tonumber(ARGV[3]) - ttl
  local expired = redis.call('ZRANGEBYSCORE', KEYS[3] .. ARGV[2], '-inf', horizon, 'LIMIT', 0, 100)
  for _, id in ipairs(expired) do
    redis.call('ZREM', KEYS[3] .. ARGV[2], id)
    redis.call('ZREM', KEYS[2], id)
  end
elseif old ~= '' then
  redis.call('PERSIST', KEYS[1])
end
if ttl > 0 then redis.call('PUBLISH', ARGV[5], ARGV[2]) end  -- for wait()
return old
