-- failure_clear.lua: remove every failure record in one step.
-- KEYS[1] failed list   KEYS[2] failed index (hash: job id -> failure JSON)
-- KEYS[3] holding list: where the removed records go to be announced
-- ARGV[1] '0': delete the records; else keep them in KEYS[3] for that many
--         milliseconds (the caller pops and announces them in batches; a
--         caller killed meanwhile leaves the rest to expire)
-- Returns how many records there were. A failure recorded after this step
-- starts a new list: it was not removed.
local size = redis.call('LLEN', KEYS[1])
redis.call('UNLINK', KEYS[2])
if size > 0 then
  if ARGV[1] == '0' then
    redis.call('UNLINK', KEYS[1])
  else
    redis.call('RENAME', KEYS[1], KEYS[3])
    redis.call('PEXPIRE', KEYS[3], ARGV[1])
  end
end
return size
