-- fetch.lua: take up to N jobs from the first non-empty queue into the worker's
-- in-flight list, in one atomic step (strict priority: earlier queues first).
-- KEYS[1] the worker's in-flight list     KEYS[2..] queue lists, highest priority first
-- ARGV[1] most jobs to take
-- ARGV[2] '1': entries are '<queue name>\t<payload>' (a worker of several queues);
--         '0': entries are the bare payload (a worker of one queue, named in its id)
-- ARGV[3..] queue names, same order as KEYS[2..]
-- Returns {queue name, payload, payload, ...}, or {} when every queue is empty.
local prefixed = ARGV[2] == '1'
for i = 2, #KEYS do
  local items = redis.call('LPOP', KEYS[i], ARGV[1])
  if items then
    local queue = ARGV[i + 1]
    if prefixed then
      local entries = {}
      for j, item in ipairs(items) do entries[j] = queue .. '\t' .. item end
      redis.call('RPUSH', KEYS[1], unpack(entries))
    else
      redis.call('RPUSH', KEYS[1], unpack(items))
    end
    table.insert(items, 1, queue)
    return items
  end
end
return {}
