-- metrics_enqueued.lua: count the jobs written to their queues, per queue and
-- job class. Registered as the batched write fragment "metrics.enqueued"
-- (resqplug.ext.Batched): it runs once per enqueue script with the writes of
-- every job the script writes (one, or a whole enqueue_many batch for a
-- queue), so a batch costs one HINCRBY per label set it holds.
-- KEYS per write: [1] the counters hash   [2] the admitted label sets hash
-- ARGV per write: [1] the job's label set (a JSON array: queue, job class)
--                 [2] the cap on distinct label sets
-- COUNT the number of writes; the 4th argument (the jobs) is not used.
-- A label set not yet admitted is admitted while fewer than the cap are;
-- past the cap its counts go to the overflow label set OTHER. Counter fields
-- are '<label set>\n<figure>' (JSON holds no raw newline).
local OTHER = '["(other)","(other)"]'
local admitted, sums = {}, {}

local function admit(labels_key, label, cap)
  local memo = labels_key .. '\n' .. label
  local use = admitted[memo]
  if use then return use end
  use = label
  if redis.call('HEXISTS', labels_key, label) == 0 then
    if redis.call('HLEN', labels_key) < (tonumber(cap) or 0) then
      redis.call('HSET', labels_key, label, 1)
    else
      use = OTHER
    end
  end
  admitted[memo] = use
  return use
end

for i = 1, COUNT do
  local counters = KEYS[2 * i - 1]
  local field = admit(KEYS[2 * i], ARGV[2 * i - 1], ARGV[2 * i]) .. '\nenqueued'
  local held = sums[counters]
  if not held then
    held = {}
    sums[counters] = held
  end
  held[field] = (held[field] or 0) + 1
end

for counters, held in pairs(sums) do
  for field, n in pairs(held) do
    redis.call('HINCRBY', counters, field, string.format('%d', n))
  end
end
