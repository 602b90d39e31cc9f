-- metrics_runs.lua: count the ended runs of jobs, per queue and job class,
-- with their duration and queue latency histograms. Registered as the batched
-- write fragment "metrics.runs" (resqplug.ext.Batched): it runs once per ack
-- script with the writes of every run the ack records (one write per run),
-- and alone (Resq.apply_writes) for a job recovered from a dead worker. The
-- batch is summed here first: one HINCRBY per distinct field, not per run.
-- KEYS per write: [1] the counters hash   [2] the admitted label sets hash
-- ARGV per write: [1] the job's label set (a JSON array: queue, job class)
--                 [2] the cap on distinct label sets
--                 [3] how the run ended: succeeded, failed, retried, killed
--                     or recovered (each run also counts as started)
--                 [4] its duration's bucket index ('' when not measured)
--                 [5] its duration in microseconds
--                 [6] its queue latency's bucket index ('' when not measured)
--                 [7] its queue latency in microseconds
-- COUNT the number of writes; the 4th argument (the jobs) is not used.
-- Label sets past the cap are counted under OTHER (as in metrics_enqueued.lua).
-- Fields: '<label set>\n<figure>', figures started, <outcome>, duration_us,
-- duration:<bucket>, latency_us, latency:<bucket> (buckets not cumulative).
local OTHER = '["(other)","(other)"]'
local N = 7
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

local function add(held, field, n)
  held[field] = (held[field] or 0) + n
end

local function observe(held, prefix, name, bucket, micros)
  if bucket == '' then return end
  add(held, prefix .. name .. ':' .. bucket, 1)
  add(held, prefix .. name .. '_us', tonumber(micros) or 0)
end

for i = 1, COUNT do
  local at = N * (i - 1)
  local counters = KEYS[2 * i - 1]
  local held = sums[counters]
  if not held then
    held = {}
    sums[counters] = held
  end
  local prefix = admit(KEYS[2 * i], ARGV[at + 1], ARGV[at + 2]) .. '\n'
  add(held, prefix .. 'started', 1)
  add(held, prefix .. ARGV[at + 3], 1)
  observe(held, prefix, 'duration', ARGV[at + 4], ARGV[at + 5])
  observe(held, prefix, 'latency', ARGV[at + 6], ARGV[at + 7])
end

for counters, held in pairs(sums) do
  for field, n in pairs(held) do
    redis.call('HINCRBY', counters, field, string.format('%d', n))
  end
end
