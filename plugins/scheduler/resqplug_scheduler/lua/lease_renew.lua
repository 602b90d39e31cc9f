-- lease_renew.lua: extend the scheduler leader lease only if we still hold it.
-- KEYS[1] leader key
-- ARGV[1] our owner token     ARGV[2] lease length in milliseconds
-- Returns 1 when renewed, 0 when the lease is held by someone else or expired.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
