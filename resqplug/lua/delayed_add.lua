-- delayed_add.lua: add a job to a delayed set, atomically with its enqueue guards
-- (so a unique job is unique while it waits, too) and the plugins' writes for
-- it (composed after writes.lua: apply_writes).
-- KEYS[1] delayed set      KEYS[2..] guard keys, then the writes' keys
-- ARGV[1] member ('<queue>\t<payload>')   ARGV[2] due (unix time)
-- ARGV[3] number of guards g   ARGV[4..3+2g] per guard: value, ttl in milliseconds
-- ARGV[4+2g] number of writes, then the writes (see writes.lua)
-- Guards as in enqueue.lua: free or held by the same value.
-- Returns {1, write errors...} when added; {0, guard index, holder} when a
-- guard is held by another value (nothing written, no plugin write either).
local guards = tonumber(ARGV[3])
local taken = {}
for i = 1, guards do
  local key, value = KEYS[1 + i], ARGV[2 + 2 * i]
  local holder = redis.call('GET', key)
  if holder and holder ~= value then
    for _, k in ipairs(taken) do redis.call('DEL', k) end
    return {0, i, holder}
  end
  if not holder then taken[#taken + 1] = key end
  redis.call('SET', key, value, 'PX', ARGV[3 + 2 * i])
end
local errors = {1}
local at = 4 + 2 * guards
local key_at = apply_writes(2 + guards, at + 1, tonumber(ARGV[at]), errors)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
apply_batched(errors, key_at, nil, {ARGV[1]:sub((ARGV[1]:find('\t', 1, true) or 0) + 1)})
return errors
