-- trim_oldest.lua: keep the failed store at most ARGV[1] records long, dropping
-- the oldest (and their index entries), and count what was dropped.
-- KEYS[1] failed list    KEYS[2] failed index    KEYS[3] dropped counter
-- ARGV[1] most records to keep    ARGV[2] most records to drop in one call
-- Returns the number dropped.
local excess = redis.call('LLEN', KEYS[1]) - tonumber(ARGV[1])
if excess <= 0 then return 0 end
excess = math.min(excess, tonumber(ARGV[2]))
local oldest = redis.call('LRANGE', KEYS[1], 0, excess - 1)
for _, record in ipairs(oldest) do
  local ok, doc = pcall(cjson.decode, record)
  local id = ok and type(doc) == 'table' and doc.id or nil
  if type(id) == 'string' and redis.call('HGET', KEYS[2], id) == record then
    redis.call('HDEL', KEYS[2], id)
  end
end
redis.call('LTRIM', KEYS[1], excess, -1)
redis.call('INCRBY', KEYS[3], excess)
return excess
