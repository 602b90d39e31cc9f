-- delayed_remove.lua: remove delayed jobs whose payload starts with a prefix.
-- KEYS[1] delayed set (zset: member '<queue>\t<payload>')
-- ARGV[1] payload prefix ('{"class":"X","args":[..]' or '{"class":"X","args":')
-- ARGV[2] '1' to match any args, '0' to match these args exactly
-- Returns the number removed. Reads the set in windows; removes after the scan.
local prefix, any = ARGV[1], ARGV[2] == '1'
local n = #prefix
local matches = {}
local start = 0
while true do
  local members = redis.call('ZRANGE', KEYS[1], start, start + 999)
  if #members == 0 then break end
  for _, member in ipairs(members) do
    local tab = string.find(member, '\t', 1, true)
    local payload = string.sub(member, tab + 1)
    if string.sub(payload, 1, n) == prefix then
      local after = string.sub(payload, n + 1, n + 1)
      if any or after == ',' or after == '}' then matches[#matches + 1] = member end
    end
  end
  start = start + 1000
end
local removed = 0
for _, member in ipairs(matches) do removed = removed + redis.call('ZREM', KEYS[1], member) end
return removed
