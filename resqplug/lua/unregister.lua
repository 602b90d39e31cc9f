-- unregister.lua: remove a worker's registry entries and lease (not its in-flight
-- list), in one atomic step that Redis runs even when it is out of memory: every
-- write here removes data, and unlike MULTI/EXEC (which Redis refuses to queue
-- commands into while out of memory) a script that removes is allowed.
-- KEYS[1] workers (set)        KEYS[2] worker:<id>          KEYS[3] worker:<id>:started
-- KEYS[4] stat:processed:<id>  KEYS[5] stat:failed:<id>     KEYS[6] worker info hash
-- KEYS[7] workers:heartbeat    KEYS[8] leases
-- ARGV[1] worker id
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
redis.call('HDEL', KEYS[7], ARGV[1])
redis.call('ZREM', KEYS[8], ARGV[1])
return 1
