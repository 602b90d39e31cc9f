-- tail_cancelled.lua: the cancelled-job check of fetch.lua for the job an idle
-- one-queue worker's BLMOVE took. Sent right behind the BLMOVE in one pipeline,
-- it runs as soon as the BLMOVE returns: no round trip of its own. The worker
-- holds no job while it waits, so the job taken is the last entry of its list.
-- KEYS[1] the worker's in-flight list     KEYS[2] set of cancelled job ids
-- Returns {} when nothing was dropped (no job taken, the set empty, the job not
-- cancelled, a payload without a readable id); else {'announce' or 'quiet', the
-- payload dropped} (it left the in-flight list and the set: it never runs; a
-- member '!<id>' is a job whose canceller announced its removal: 'quiet').
if redis.call('SCARD', KEYS[2]) == 0 then return {} end
local payload = redis.call('LINDEX', KEYS[1], -1)
if not payload then return {} end
local ok, doc = pcall(cjson.decode, payload)
if not ok or type(doc) ~= 'table' or type(doc.id) ~= 'string' then return {} end
local plain = redis.call('SREM', KEYS[2], doc.id) == 1
local quiet = redis.call('SREM', KEYS[2], '!' .. doc.id) == 1
if not plain and not quiet then return {} end
redis.call('RPOP', KEYS[1])
return {quiet and 'quiet' or 'announce', payload}
