-- status_kill.lua: request the kill of a job that has not finished, atomically
-- with reading its state (a job starting now either sees the request and is
-- not run, or was already "working" when the request was made).
-- KEYS[1] status hash of the job    KEYS[2] set of ids whose kill was requested
-- ARGV[1] job id
-- Returns {state the job is in, 1 if this call requested the kill, 0 if it
-- was requested before}, or {''} (nothing requested) when the job is unknown,
-- expired or already final.
local state = redis.call('HGET', KEYS[1], 'status')
if not state or state == 'completed' or state == 'failed' or state == 'killed' then
  return {''}
end
return {state, redis.call('SADD', KEYS[2], ARGV[1])}
