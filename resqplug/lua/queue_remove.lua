-- queue_remove.lua: remove a queue and its jobs in one step.
-- KEYS[1] queues set   KEYS[2] queue list   KEYS[3] wake list of the queue
-- KEYS[4] holding list: where the removed jobs go to be announced
-- ARGV[1] queue name
-- ARGV[2] '0': delete the jobs; else keep them in KEYS[4] for that many
--         milliseconds (the caller pops and announces them in batches; a
--         caller killed meanwhile leaves the rest to expire)
-- Returns how many jobs the queue held. A job enqueued after this step goes to
-- a new queue of the same name: it was not removed.
local size = redis.call('LLEN', KEYS[2])
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3])
if size > 0 then
  if ARGV[2] == '0' then
    redis.call('UNLINK', KEYS[2])
  else
    redis.call('RENAME', KEYS[2], KEYS[4])
    redis.call('PEXPIRE', KEYS[4], ARGV[2])
  end
end
return size
