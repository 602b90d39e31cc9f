-- failure_remove.lua: remove the failure record of one job id.
-- KEYS[1] failed list      KEYS[2] failed index (hash: job id -> failure JSON)
-- ARGV[1] job id
-- Returns the removed record, or nil when there was no record for that id.
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry then return nil end
redis.call('LREM', KEYS[1], 1, entry)
redis.call('HDEL', KEYS[2], ARGV[1])
return entry
