-- durations_record.lua: add one run of a job class to its statistics.
-- Registered as the write fragment "durations.record"; it rides the ack of the
-- run (the core's script that records the job's outcome).
-- KEYS[1] the class's statistics hash (<ns>:resqplug:durations:<class>)
-- ARGV[1] the run's duration in seconds
-- ARGV[2] 1 if the run failed, else 0
redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HINCRBY', KEYS[1], 'failed', ARGV[2])
redis.call('HINCRBYFLOAT', KEYS[1], 'total_seconds', ARGV[1])
local longest = tonumber(redis.call('HGET', KEYS[1], 'max_seconds')) or 0
if tonumber(ARGV[1]) > longest then
  redis.call('HSET', KEYS[1], 'max_seconds', ARGV[1])
end
