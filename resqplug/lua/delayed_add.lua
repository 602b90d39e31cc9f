-- delayed_add.lua: add a job to a delayed set, atomically with its enqueue guards
-- (so a unique job is unique while it waits, too).
-- KEYS[1] delayed set      KEYS[2..] guard keys
-- ARGV[1] member ('<queue>\t<payload>')   ARGV[2] due (unix time)
-- ARGV[3..] per guard: value, ttl in milliseconds
-- Guards as in enqueue.lua: free or held by the same value.
-- Returns {1} when added; {0, guard index, holder} when a guard is held by another value.
local taken = {}
for i = 1, #KEYS - 1 do
  local key, value = KEYS[1 + i], ARGV[1 + 2 * i]
  local holder = redis.call('GET', key)
  if holder and holder ~= value then
    for _, k in ipairs(taken) do redis.call('DEL', k) end
    return {0, i, holder}
  end
  if not holder then taken[#taken + 1] = key end
  redis.call('SET', key, value, 'PX', ARGV[2 + 2 * i])
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return {1}
