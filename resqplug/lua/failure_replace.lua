-- failure_replace.lua: replace a job's failure record in place (e.g. to add retried_at).
-- KEYS[1] failed list      KEYS[2] failed index (hash: job id -> failure JSON)
-- ARGV[1] job id           ARGV[2] the record as read       ARGV[3] the new record
-- Returns 1 when replaced, 0 when the record changed or vanished since it was read.
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
local pos = redis.call('LPOS', KEYS[1], ARGV[2])
if pos then redis.call('LSET', KEYS[1], pos, ARGV[3]) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
