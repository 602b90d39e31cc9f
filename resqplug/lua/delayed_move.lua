-- delayed_move.lua: move one delayed job to its queue if it is still in the
-- delayed set (exactly once, whoever else races for it), with enqueue guards
-- and the plugins' writes for it (composed after writes.lua: apply_writes).
-- KEYS[1] delayed set   KEYS[2] queues set   KEYS[3] queue list   KEYS[4] wake list
-- KEYS[5..] guard keys, then the writes' keys
-- ARGV[1] member as read ('<queue>\t<payload>')   ARGV[2] queue name
-- ARGV[3] payload to write (after before_enqueue; '' = vetoed: only remove it)
-- ARGV[4] wake list cap   ARGV[5] number of guards g
-- ARGV[6..5+2g] per guard: value, ttl ms
-- ARGV[6+2g] number of writes, then the writes (see writes.lua)
-- Returns {1, write errors...} moved, {0} already gone, {2} removed (vetoed),
-- {3, guard index, holder} guard held (then the job is removed from the
-- delayed set: a held guard means a duplicate). Writes apply only when moved.
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false then return {0} end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return {2}
end
-- Guards as in enqueue.lua: free or held by the same value (the same job).
local guards = tonumber(ARGV[5])
local taken = {}
for i = 1, guards do
  local key, value = KEYS[4 + i], ARGV[4 + 2 * i]
  local holder = redis.call('GET', key)
  if holder and holder ~= value then
    for _, k in ipairs(taken) do redis.call('DEL', k) end
    redis.call('ZREM', KEYS[1], ARGV[1])
    return {3, i, holder}
  end
  if not holder then taken[#taken + 1] = key end
  redis.call('SET', key, value, 'PX', ARGV[5 + 2 * i])
end
local errors = {1}
local at = 6 + 2 * guards
local key_at = apply_writes(5 + guards, at + 1, tonumber(ARGV[at]), errors)
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('LPUSH', KEYS[4], '1')
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[4]) - 1)
apply_batched(errors, key_at, nil, {ARGV[3]})
return errors
