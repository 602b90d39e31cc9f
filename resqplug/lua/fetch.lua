-- fetch.lua: take up to N jobs from the first non-empty queue into the worker's
-- in-flight list, in one atomic step (strict priority: earlier queues first).
-- KEYS[1] the worker's in-flight list     KEYS[2..] queue lists, highest priority first
-- ARGV[1] most jobs to take                ARGV[2..] queue names, same order as KEYS[2..]
-- Returns {queue name, payload, payload, ...}, or {} when every queue is empty.
-- Each in-flight entry is '<queue name>\t<payload>' (queue names hold no whitespace).
for i = 2, #KEYS do
  local items = redis.call('LPOP', KEYS[i], ARGV[1])
  if items then
    local queue = ARGV[i]
    local entries = {}
    for j, item in ipairs(items) do entries[j] = queue .. '\t' .. item end
    redis.call('RPUSH', KEYS[1], unpack(entries))
    table.insert(items, 1, queue)
    return items
  end
end
return {}
