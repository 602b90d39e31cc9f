-- requeue.lua: move one in-flight job back to the front of its queue, atomically.
-- KEYS[1] in-flight list      KEYS[2] queue list      KEYS[3] queues set     KEYS[4] wake list
-- ARGV[1] in-flight entry     ARGV[2] payload to put back (may carry updated meta)
-- ARGV[3] queue name          ARGV[4] wake list cap
-- Returns 1 when moved, 0 when the entry was no longer in the in-flight list.
-- The queue's type is checked first, so the removal can come before the push
-- (a script is not rolled back when a command fails, and a job must never be
-- dropped from the in-flight list without landing in its queue): with a
-- removal as its first write the script also runs when Redis is out of memory
-- (maxmemory, noeviction), since it frees what it adds.
if not redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end
local kind = redis.call('TYPE', KEYS[2])['ok']
if kind ~= 'list' and kind ~= 'none' then
  return redis.error_reply('WRONGTYPE queue ' .. KEYS[2] .. ' is a ' .. kind .. ', not a list')
end
redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('LPUSH', KEYS[4], '1')
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[4]) - 1)
return 1
