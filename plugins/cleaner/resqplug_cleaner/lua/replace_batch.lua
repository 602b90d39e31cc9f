-- replace_batch.lua: replace or delete a batch of failure records in place.
-- KEYS[1] failed list       KEYS[2] failed index (hash: job id -> record)
-- ARGV: four per record: position as read, job id ('' if none), record as read,
--       new record ('' = delete)
-- A record still at its position is replaced there (LSET); one that moved is
-- found by value. Deleted records become a tombstone, all removed by one LREM.
-- Returns one integer per record: 1 changed, 0 already gone (skipped).
local tomb = '\0resqplug-cleaner-deleted\0'
local changed, deleted = {}, 0
for i = 1, #ARGV, 4 do
  local pos, id, old, new = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if redis.call('LINDEX', KEYS[1], pos) ~= old then
    pos = redis.call('LPOS', KEYS[1], old)
  end
  changed[#changed + 1] = pos and 1 or 0
  if pos then
    redis.call('LSET', KEYS[1], pos, new == '' and tomb or new)
    if id ~= '' and redis.call('HGET', KEYS[2], id) == old then
      if new == '' then redis.call('HDEL', KEYS[2], id) else redis.call('HSET', KEYS[2], id, new) end
    end
    if new == '' then deleted = deleted + 1 end
  end
end
if deleted > 0 then redis.call('LREM', KEYS[1], 0, tomb) end
return changed
