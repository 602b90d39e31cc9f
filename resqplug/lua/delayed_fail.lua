-- delayed_fail.lua: take a delayed job that cannot be enqueued out of the
-- delayed set and record it as failed, in one step (never dropped).
-- KEYS[1] delayed set   KEYS[2] failed list   KEYS[3] failed index   KEYS[4] stat:failed
-- ARGV[1] member as read   ARGV[2] job id   ARGV[3] failure JSON
-- Returns 1 when recorded, 0 when the member was already gone.
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[3], ARGV[2])
if old then redis.call('LREM', KEYS[2], 1, old) end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('INCR', KEYS[4])
return 1
