-- metrics_runs.lua: count the ended runs of jobs, per queue and job class,
-- with their duration and queue latency histograms. Registered as the batched
-- write fragment "metrics.runs" (resqplug.ext.Batched): the core calls it once
-- per ack script and group, a group being the runs of one label set (its
-- shared arg), and alone (Resq.apply_writes) for a job recovered from a dead
-- worker. The group is summed here first: one HINCRBY per distinct field
-- (about seven for an ack of one class), not per run.
-- KEYS[1] the counters hash
-- ARGV per write (3): [1] a code: outcome * 400 + (duration bucket + 1) * 20
--                         + (latency bucket + 1), where outcome is the index
--                         (from 0) in OUTCOMES (each run also counts as
--                         started), and a bucket is -1 when not measured
--                     [2] the run's duration in microseconds
--                     [3] its queue latency in microseconds
-- COUNT the number of runs; JOBS is not used ('' in the ack)
-- SHARED[1] the label set (a JSON array: queue, job class)
-- CAP, OTHER and the admission of label sets: as in metrics_enqueued.lua.
-- Fields: '<label set>\n<figure>', figures started, <outcome>, duration_us,
-- duration:<bucket>, latency_us, latency:<bucket> (buckets not cumulative).
local CAP = tonumber('@CAP@')
local OTHER = '["(other)","(other)"]'
local OUTCOMES = {'succeeded', 'failed', 'retried', 'killed', 'recovered'}
local key, label = KEYS[1], SHARED[1]
local counts, durations, latencies = {}, {}, {}

local function add(held, name, n)
  held[name] = (held[name] or 0) + n
end

for i = 1, COUNT do
  local at = 3 * (i - 1)
  local code = tonumber(ARGV[at + 1]) or 0
  local outcome = OUTCOMES[math.floor(code / 400) + 1]
  if outcome then
    add(counts, 'started', 1)
    add(counts, outcome, 1)
  end
  local duration, latency = math.floor(code / 20) % 20 - 1, code % 20 - 1
  if duration >= 0 then
    add(durations, duration, 1)
    add(counts, 'duration_us', tonumber(ARGV[at + 2]) or 0)
  end
  if latency >= 0 then
    add(latencies, latency, 1)
    add(counts, 'latency_us', tonumber(ARGV[at + 3]) or 0)
  end
end

if redis.call('HEXISTS', key, label) == 0 then
  if (tonumber(redis.call('HGET', key, '#label_sets')) or 0) < CAP then
    redis.call('HSET', key, label, 1)
    redis.call('HINCRBY', key, '#label_sets', 1)
  else
    label = OTHER
  end
end
local prefix = label .. '\n'
for name, n in pairs(counts) do
  redis.call('HINCRBY', key, prefix .. name, string.format('%d', n))
end
for b, n in pairs(durations) do redis.call('HINCRBY', key, prefix .. 'duration:' .. b, n) end
for b, n in pairs(latencies) do redis.call('HINCRBY', key, prefix .. 'latency:' .. b, n) end
