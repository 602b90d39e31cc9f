-- dequeue.lua: remove queued jobs whose payload starts with a given class and args.
-- KEYS[1] queue list
-- ARGV[1] payload prefix ('{"class":"X","args":[..]' or '{"class":"X","args":')
-- ARGV[2] '1' to match any args, '0' to match these args exactly
-- ARGV[3] '0': remove every match and return how many were removed; N > 0:
--         remove at most N distinct matches and return {more, removed...}: each
--         removed payload as often as it was removed, more = 1 when another
--         match is left for the next call, else 0
-- Reads the list in windows so a long queue is not copied at once; removal
-- happens after the scan, by exact text.
local prefix, any, most = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3])
local n = #prefix
local window = 1000
local matches, seen = {}, {}
local start, more = 0, 0
while more == 0 do
  local items = redis.call('LRANGE', KEYS[1], start, start + window - 1)
  if #items == 0 then break end
  for _, item in ipairs(items) do
    if string.sub(item, 1, n) == prefix and not seen[item] then
      local after = string.sub(item, n + 1, n + 1)
      if any or after == ',' or after == '}' then
        if most > 0 and #matches == most then
          more = 1
          break
        end
        seen[item] = true
        matches[#matches + 1] = item
      end
    end
  end
  start = start + window
end
if most == 0 then
  local removed = 0
  for _, item in ipairs(matches) do
    removed = removed + redis.call('LREM', KEYS[1], 0, item)
  end
  return removed
end
local out = {more}
for _, item in ipairs(matches) do
  for _ = 1, redis.call('LREM', KEYS[1], 0, item) do out[#out + 1] = item end
end
return out
