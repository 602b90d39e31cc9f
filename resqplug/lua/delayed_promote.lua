-- delayed_promote.lua: move due jobs from a delayed set to their queues, atomically,
-- so each delayed job is enqueued exactly once however many processes promote.
-- KEYS[1] delayed set (zset: member '<queue>\t<payload>', score = due unix time)
-- KEYS[2] queues set
-- ARGV[1] key prefix of queue lists ('<ns>:queue:')   ARGV[2] prefix of wake lists
-- ARGV[3] most jobs to move                          ARGV[4] wake list cap
-- Due time is Redis server time. Returns the number of jobs moved.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  local tab = string.find(member, '\t', 1, true)
  local queue = string.sub(member, 1, tab - 1)
  redis.call('ZREM', KEYS[1], member)
  redis.call('SADD', KEYS[2], queue)
  redis.call('RPUSH', ARGV[1] .. queue, string.sub(member, tab + 1))
  redis.call('LPUSH', ARGV[2] .. queue, '1')
  redis.call('LTRIM', ARGV[2] .. queue, 0, tonumber(ARGV[4]) - 1)
end
return #due
