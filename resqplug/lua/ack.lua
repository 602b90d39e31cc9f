-- ack.lua: record the outcome of jobs a worker took and drop them from its
-- in-flight list, in one atomic step. A job whose entry is no longer in the list
-- (its lease was lost and it was recovered by another worker) records nothing.
-- KEYS[1] in-flight list of the worker
-- KEYS[2] stat:processed     KEYS[3] stat:processed:<worker>
-- KEYS[4] stat:failed        KEYS[5] stat:failed:<worker>
-- KEYS[6] failed list        KEYS[7] failed index (hash: job id -> failure JSON)
-- ARGV: three per job: in-flight entry, job id, failure JSON ('' if the job did not fail)
-- Returns one integer per job: 1 recorded, 0 entry gone (lease lost).
local acked = {}
local processed, failed = 0, 0
for i = 1, #ARGV, 3 do
  local entry, id, failure = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('LREM', KEYS[1], 1, entry) == 1 then
    processed = processed + 1
    if failure ~= '' then
      failed = failed + 1
      -- One failure record per job id: a newer failure replaces the older one.
      local old = redis.call('HGET', KEYS[7], id)
      if old then redis.call('LREM', KEYS[6], 1, old) end
      redis.call('RPUSH', KEYS[6], failure)
      redis.call('HSET', KEYS[7], id, failure)
    end
    acked[#acked + 1] = 1
  else
    acked[#acked + 1] = 0
  end
end
if processed > 0 then
  redis.call('INCRBY', KEYS[2], processed)
  redis.call('INCRBY', KEYS[3], processed)
end
if failed > 0 then
  redis.call('INCRBY', KEYS[4], failed)
  redis.call('INCRBY', KEYS[5], failed)
end
return acked
