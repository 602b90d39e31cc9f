-- status_kills.lua: the ids whose kill was requested, when there are few.
-- KEYS[1] set of ids whose kill was requested
-- ARGV[1] most ids to return
-- Returns the ids, or false when there are more than ARGV[1] (the caller then
-- asks about each job it starts instead).
if redis.call('SCARD', KEYS[1]) > tonumber(ARGV[1]) then return false end
return redis.call('SMEMBERS', KEYS[1])
