-- metrics_runs.lua: count the ended runs of jobs, per queue and job class,
-- with their duration and queue latency histograms. Registered as the batched
-- write fragment "metrics.runs" (resqplug.ext.Batched): it runs once per ack
-- script with the writes of every run the ack records (one write per run),
-- and alone (Resq.apply_writes) for a job recovered from a dead worker. The
-- batch is summed here first: one HINCRBY per distinct field, not per run.
-- KEYS per write: [1] the counters hash
-- ARGV per write: [1] the job's label set (a JSON array: queue, job class)
--                 [2] a code: outcome * 400 + (duration bucket + 1) * 20
--                     + (latency bucket + 1), where outcome is the index
--                     (from 0) in OUTCOMES (each run also counts as
--                     started), and a bucket is -1 when not measured
--                 [3] its duration in microseconds
--                 [4] its queue latency in microseconds
-- COUNT the number of writes; the 4th argument (the jobs) is not used.
-- CAP, OTHER and the admission of label sets: as in metrics_enqueued.lua.
-- Fields: '<label set>\n<figure>', figures started, <outcome>, duration_us,
-- duration:<bucket>, latency_us, latency:<bucket> (buckets not cumulative).
local CAP = tonumber('@CAP@')
local OTHER = '["(other)","(other)"]'
local N = 4
local OUTCOMES = {'succeeded', 'failed', 'retried', 'killed', 'recovered'}

local function admit(key, label)
  if redis.call('HEXISTS', key, label) == 1 then return label end
  if (tonumber(redis.call('HGET', key, '#label_sets')) or 0) >= CAP then return OTHER end
  redis.call('HSET', key, label, 1)
  redis.call('HINCRBY', key, '#label_sets', 1)
  return label
end

local function add(counts, name, n)
  counts[name] = (counts[name] or 0) + n
end

local per = {}  -- counters key -> label set -> figure -> amount (buckets: a table)
for i = 1, COUNT do
  local at = N * (i - 1)
  local held = per[KEYS[i]]
  if not held then
    held = {}
    per[KEYS[i]] = held
  end
  local counts = held[ARGV[at + 1]]
  if not counts then
    counts = {duration = {}, latency = {}}  -- and figure -> amount
    held[ARGV[at + 1]] = counts
  end
  local code = tonumber(ARGV[at + 2]) or 0
  local outcome = OUTCOMES[math.floor(code / 400) + 1]
  if outcome then
    add(counts, 'started', 1)
    add(counts, outcome, 1)
  end
  local duration, latency = math.floor(code / 20) % 20 - 1, code % 20 - 1
  if duration >= 0 then
    add(counts.duration, duration, 1)
    add(counts, 'duration_us', tonumber(ARGV[at + 3]) or 0)
  end
  if latency >= 0 then
    add(counts.latency, latency, 1)
    add(counts, 'latency_us', tonumber(ARGV[at + 4]) or 0)
  end
end

for key, held in pairs(per) do
  for label, counts in pairs(held) do
    local prefix = admit(key, label) .. '\n'
    for name, n in pairs(counts) do
      if type(n) == 'table' then  -- a histogram's buckets
        for b, m in pairs(n) do redis.call('HINCRBY', key, prefix .. name .. ':' .. b, m) end
      else
        redis.call('HINCRBY', key, prefix .. name, string.format('%d', n))
      end
    end
  end
end
