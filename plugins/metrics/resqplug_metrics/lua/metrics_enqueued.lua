-- metrics_enqueued.lua: count the jobs written to their queues (or to a
-- delayed set), per queue and job class. Registered as the batched write
-- fragment "metrics.enqueued" (resqplug.ext.Batched): it runs once per
-- enqueue script with the writes of every job the script writes (one, or a
-- whole enqueue_many batch for a queue), sums them here, and costs one
-- HINCRBY per label set (plus one HEXISTS to admit it), not one per job.
-- KEYS per write: [1] the counters hash
-- ARGV per write: [1] the job's label set (a JSON array: queue, job class)
-- COUNT the number of writes; the 4th argument (the jobs) is not used.
-- CAP (the cap on distinct label sets) is set where the plugin loads this
-- file (figures.py). A label set not yet admitted is admitted (a field of its
-- own, counted in '#label_sets') while fewer than CAP are; past the cap its
-- counts go to the overflow label set OTHER. Counter fields are
-- '<label set>\n<figure>' (JSON holds no raw newline).
local CAP = tonumber('@CAP@')
local OTHER = '["(other)","(other)"]'

local function admit(key, label)
  if redis.call('HEXISTS', key, label) == 1 then return label end
  if (tonumber(redis.call('HGET', key, '#label_sets')) or 0) >= CAP then return OTHER end
  redis.call('HSET', key, label, 1)
  redis.call('HINCRBY', key, '#label_sets', 1)
  return label
end

local per = {}  -- counters key -> label set -> jobs
for i = 1, COUNT do
  local key = KEYS[i]
  local held = per[key]
  if not held then
    held = {}
    per[key] = held
  end
  local label = ARGV[i]
  held[label] = (held[label] or 0) + 1
end

for key, held in pairs(per) do
  for label, n in pairs(held) do
    redis.call('HINCRBY', key, admit(key, label) .. '\nenqueued', n)
  end
end
