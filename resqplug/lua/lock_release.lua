-- lock_release.lua: delete a lock only if we still own it (compare-and-delete).
-- KEYS[1] lock key
-- ARGV[1] owner token we set the lock with
-- Returns 1 when released, 0 when the lock had expired or belongs to another owner.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
