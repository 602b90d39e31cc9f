-- enqueue.lua: write one job to its queue, atomically with its enqueue guards
-- and the plugins' writes for it (composed after writes.lua: apply_writes).
-- KEYS[1] queues set            KEYS[2] queue list         KEYS[3] wake list of the queue
-- KEYS[4..] guard keys (one per guard, in order), then the writes' keys
-- ARGV[1] queue name            ARGV[2] payload text       ARGV[3] wake list cap
-- ARGV[4] number of guards g    ARGV[5..4+2g] per guard: value, ttl in milliseconds
-- ARGV[5+2g] number of writes, then the writes (see writes.lua)
-- A guard is taken when its key is free or already holds the same value (the
-- same job enqueued again: a retry, a requeue); its TTL is then renewed.
-- Returns {1, write errors...} when written; {0, guard index (1-based), holder}
-- when a guard key is held by another value, in which case nothing is written
-- (no plugin write either) and guards taken by this call are released.
local guards = tonumber(ARGV[4])
local taken = {}
for i = 1, guards do
  local key, value = KEYS[3 + i], ARGV[3 + 2 * i]
  local holder = redis.call('GET', key)
  if holder and holder ~= value then
    for _, k in ipairs(taken) do redis.call('DEL', k) end
    return {0, i, holder}
  end
  if not holder then taken[#taken + 1] = key end
  redis.call('SET', key, value, 'PX', ARGV[4 + 2 * i])
end
local errors = {1}
local at = 5 + 2 * guards
local key_at = apply_writes(4 + guards, at + 1, tonumber(ARGV[at]), errors)
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('LPUSH', KEYS[3], '1')
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
apply_batched(errors, key_at, nil, {ARGV[2]})
return errors
