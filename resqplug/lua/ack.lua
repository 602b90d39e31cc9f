-- ack.lua: record the outcome of jobs a worker took and drop them from its
-- in-flight list, with the plugins' writes for each run, in one atomic step
-- (composed after writes.lua: apply_writes). A job whose entry is no longer in
-- the list (its lease was lost and it was recovered by another worker) records
-- nothing and its writes are skipped.
-- KEYS[1] in-flight list of the worker
-- KEYS[2] stat:processed     KEYS[3] stat:processed:<worker>
-- KEYS[4] stat:failed        KEYS[5] stat:failed:<worker>
-- KEYS[6] failed list        KEYS[7] failed index (hash: job id -> failure JSON)
-- KEYS[8] set of cancelled job ids (a job that ran leaves it)
-- KEYS[9..] the writes' keys, in order
-- ARGV: per job: in-flight entry, job id, failure JSON ('' if the job did not
-- fail), number of plain writes, then its writes; then the batched section
-- and where it starts (see writes.lua). A batched write applies only if its
-- job was recorded.
-- Returns one integer per job (1 recorded, 0 entry gone: lease lost), then
-- the errors of failed writes.
local acked, errors = {}, {}
local processed, failed = 0, 0
local key_at, at = 9, 1
local cancelled = redis.call('SCARD', KEYS[8]) > 0
local last = tonumber(ARGV[#ARGV]) - 1  -- then the batched writes
while at <= last do
  local entry, id, failure, writes = ARGV[at], ARGV[at + 1], ARGV[at + 2], tonumber(ARGV[at + 3])
  at = at + 4
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
    if cancelled then redis.call('SREM', KEYS[8], id, '!' .. id) end
    key_at, at = apply_writes(key_at, at, writes, errors)
  else
    acked[#acked + 1] = 0
    for _ = 1, writes do  -- skip them
      key_at = key_at + tonumber(ARGV[at + 1])
      at = at + 3 + tonumber(ARGV[at + 2])
    end
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
apply_batched(errors, key_at, acked)
for _, e in ipairs(errors) do acked[#acked + 1] = e end
return acked
