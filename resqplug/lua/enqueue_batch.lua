-- enqueue_batch.lua: write many jobs (none with enqueue guards) to one queue.
-- KEYS[1] queues set      KEYS[2] queue list      KEYS[3] wake list of the queue
-- ARGV[1] queue name      ARGV[2] wake list cap   ARGV[3..] payload texts, in order
-- Returns the number of jobs written.
local n = #ARGV - 2
if n < 1 then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
for i = 3, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('LPUSH', KEYS[3], '1')
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[2]) - 1)
return n
