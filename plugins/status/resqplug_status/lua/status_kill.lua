-- status_kill.lua: request the kill of a job that has not finished, atomically
-- with reading its state, through the core's set of cancelled job ids. A
-- waiting job (queued, scheduled, retrying) goes in as '!<id>': cancelled
-- quietly (the caller announces its removal), so the worker that takes it
-- drops it unrun. A running one goes in as '<id>': its worker's heartbeat,
-- its at/tick and its failure read it (and should it be put back in a queue,
-- the worker that takes it again drops it).
-- KEYS[1] status hash of the job    KEYS[2] the core's set of cancelled job ids
-- KEYS[3] waiting hash   KEYS[4] finals hash (id -> record: '<state>\t...'): a
-- status is in the waiting record, else the finals record, else the own hash
-- ARGV[1] job id
-- Returns {state the job is in, 1 if this call requested the kill, 0 if it
-- was requested before}, or {''} (nothing requested) when the job is unknown,
-- expired or already final (a final record in the finals hash included).
local record = redis.call('HGET', KEYS[3], ARGV[1]) or redis.call('HGET', KEYS[4], ARGV[1])
local state = record and record:match('^[^\t]*') or redis.call('HGET', KEYS[1], 'status')
if not state or state == 'completed' or state == 'failed' or state == 'killed' then
  return {''}
end
if state == 'queued' or state == 'scheduled' or state == 'retrying' then
  return {state, redis.call('SADD', KEYS[2], '!' .. ARGV[1])}
end
return {state, redis.call('SADD', KEYS[2], ARGV[1])}
