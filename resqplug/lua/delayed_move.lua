-- delayed_move.lua: move one delayed job to its queue if it is still in the
-- delayed set (exactly once, whoever else races for it), with enqueue guards.
-- KEYS[1] delayed set   KEYS[2] queues set   KEYS[3] queue list   KEYS[4] wake list
-- KEYS[5..] guard keys
-- ARGV[1] member as read ('<queue>\t<payload>')   ARGV[2] queue name
-- ARGV[3] payload to write (after before_enqueue; '' = vetoed: only remove it)
-- ARGV[4] wake list cap   ARGV[5..] per guard: value, ttl ms
-- Returns {1} moved, {0} already gone, {2} removed (vetoed), {3, guard index, holder} guard held
-- (then the job is removed from the delayed set: a held guard means a duplicate).
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false then return {0} end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return {2}
end
-- Guards as in enqueue.lua: free or held by the same value (the same job).
local taken = {}
for i = 1, #KEYS - 4 do
  local key, value = KEYS[4 + i], ARGV[3 + 2 * i]
  local holder = redis.call('GET', key)
  if holder and holder ~= value then
    for _, k in ipairs(taken) do redis.call('DEL', k) end
    redis.call('ZREM', KEYS[1], ARGV[1])
    return {3, i, holder}
  end
  if not holder then taken[#taken + 1] = key end
  redis.call('SET', key, value, 'PX', ARGV[4 + 2 * i])
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('LPUSH', KEYS[4], '1')
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[4]) - 1)
return {1}
