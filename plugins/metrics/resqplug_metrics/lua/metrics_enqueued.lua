-- metrics_enqueued.lua: count the jobs written to their queues (or to a
-- delayed set), per queue and job class. Registered as the batched write
-- fragment "metrics.enqueued" (resqplug.ext.Batched): the core calls it once
-- per carrying script and group, a group being the jobs of one label set
-- (its shared arg), so an enqueue_many of a thousand jobs of a class costs
-- one HINCRBY (and one HEXISTS to admit the label set), not one per job.
-- KEYS[1] the counters hash
-- ARGV    none per write
-- COUNT   the number of jobs written; JOBS (their payloads) is not used
-- SHARED[1] the label set (a JSON array: queue, job class)
-- CAP (the cap on distinct label sets) is set where the plugin loads this
-- file (figures.py). A label set not yet admitted is admitted (a field of its
-- own, counted in '#label_sets') while fewer than CAP are; past the cap its
-- counts go to the overflow label set OTHER. Counter fields are
-- '<label set>\n<figure>' (JSON holds no raw newline).
local CAP = tonumber('@CAP@')
local OTHER = '["(other)","(other)"]'
local key, label = KEYS[1], SHARED[1]
if redis.call('HEXISTS', key, label) == 0 then
  if (tonumber(redis.call('HGET', key, '#label_sets')) or 0) < CAP then
    redis.call('HSET', key, label, 1)
    redis.call('HINCRBY', key, '#label_sets', 1)
  else
    label = OTHER
  end
end
redis.call('HINCRBY', key, label .. '\nenqueued', COUNT)
