-- requeue.lua: move one in-flight job back to the front of its queue, atomically.
-- KEYS[1] in-flight list      KEYS[2] queue list      KEYS[3] queues set     KEYS[4] wake list
-- ARGV[1] in-flight entry     ARGV[2] payload to put back (may carry updated meta)
-- ARGV[3] queue name          ARGV[4] wake list cap
-- Returns 1 when moved, 0 when the entry was no longer in the in-flight list.
-- The push comes before the removal: a script is not rolled back when a command
-- fails (e.g. the queue key holds a string), and a job must never be dropped
-- from the in-flight list without landing in its queue.
if not redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('LPUSH', KEYS[4], '1')
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[4]) - 1)
return 1
