-- dequeue.lua: remove every queued job whose payload starts with a given class and args.
-- KEYS[1] queue list
-- ARGV[1] payload prefix ('{"class":"X","args":[..]' or '{"class":"X","args":')
-- ARGV[2] '1' to match any args, '0' to match these args exactly
-- Returns the number of jobs removed. Reads the list in windows so a long queue
-- is not copied at once; removal happens after the scan, by exact text.
local prefix, any = ARGV[1], ARGV[2] == '1'
local n = #prefix
local window = 1000
local matches, seen = {}, {}
local start = 0
while true do
  local items = redis.call('LRANGE', KEYS[1], start, start + window - 1)
  if #items == 0 then break end
  for _, item in ipairs(items) do
    if string.sub(item, 1, n) == prefix and not seen[item] then
      local after = string.sub(item, n + 1, n + 1)
      if any or after == ',' or after == '}' then
        seen[item] = true
        matches[#matches + 1] = item
      end
    end
  end
  start = start + window
end
local removed = 0
for _, item in ipairs(matches) do
  removed = removed + redis.call('LREM', KEYS[1], 0, item)
end
return removed
