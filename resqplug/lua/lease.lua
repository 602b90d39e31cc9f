-- lease.lua: renew (or take) a worker's lease and its Resque heartbeat, in one step
-- that Redis runs even when it is out of memory (maxmemory with noeviction).
-- KEYS[1] leases (zset: worker id -> expiry)   KEYS[2] workers:heartbeat (hash)
-- KEYS[3] workers (set)
-- ARGV[1] worker id   ARGV[2] lease expiry (Redis server time, seconds)
-- ARGV[3] heartbeat time (ISO 8601)
-- Returns 1 if the worker is in the workers set (registered), else 0.
--
-- Why the ZREM first: when Redis is out of memory it refuses, in a script, a
-- first write that may add data (ZADD, HSET) but not one that removes (ZREM);
-- after that first write the script runs to its end. Removing and adding the
-- member again in one atomic step replaces the lease without growing memory
-- (the hash field is rewritten with a value of the same size), so a live
-- worker keeps its lease through the outage and is not taken for dead.
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return redis.call('SISMEMBER', KEYS[3], ARGV[1])
