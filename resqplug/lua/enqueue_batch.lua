-- enqueue_batch.lua: write many jobs (none with enqueue guards) to one queue,
-- with the plugins' writes for each (composed after writes.lua: apply_writes).
-- KEYS[1] queues set      KEYS[2] queue list      KEYS[3] wake list of the queue
-- KEYS[4..] the writes' keys, in order
-- ARGV[1] queue name      ARGV[2] wake list cap
-- ARGV[3] '0': ARGV[4..] are payload texts, in order (no writes);
--         '1': ARGV[4..] are, per job, its payload text, its number of
--         plain writes, then its writes; then the batched section and where
--         it starts (see writes.lua)
-- Returns {number of jobs written, write errors...}.
local n, errors = 0, {0}
if ARGV[3] == '0' then
  for i = 4, #ARGV, 1000 do
    redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
  n = #ARGV - 3
else
  local payloads, jobs, key_at, at = {}, {}, 4, 4
  local last = tonumber(ARGV[#ARGV]) - 1
  while at <= last do
    payloads[#payloads + 1] = ARGV[at]
    jobs[#jobs + 1] = ARGV[at]
    key_at, at = apply_writes(key_at, at + 2, tonumber(ARGV[at + 1]), errors)
    if #payloads == 1000 then
      redis.call('RPUSH', KEYS[2], unpack(payloads))
      n, payloads = n + 1000, {}
    end
  end
  if #payloads > 0 then redis.call('RPUSH', KEYS[2], unpack(payloads)) end
  n = n + #payloads
  apply_batched(errors, key_at, nil, jobs)
end
if n < 1 then return errors end
errors[1] = n
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('LPUSH', KEYS[3], '1')
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[2]) - 1)
return errors
