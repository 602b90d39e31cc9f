-- loner_release.lua: release a job's unique lock if the job still holds it
-- (compare-and-delete). Registered as the write fragment "loner.release": it
-- rides the ack of the job's run (or the script of the step that drops it).
-- KEYS[1] the lock key
-- ARGV[1] the id of the job (the value the lock was taken with)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
