-- delayed_remove.lua: remove delayed jobs whose payload starts with a prefix.
-- KEYS[1] delayed set (zset: member '<queue>\t<payload>')
-- ARGV[1] payload prefix ('{"class":"X","args":[..]' or '{"class":"X","args":')
-- ARGV[2] '1' to match any args, '0' to match these args exactly
-- ARGV[3] '0': remove every match and return how many were removed; N > 0:
--         remove at most N and return {more, removed members...}, more = 1 when
--         another match is left for the next call, else 0
-- Reads the set in windows; removes after the scan.
local prefix, any, most = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3])
local n = #prefix
local matches = {}
local start, more = 0, 0
while more == 0 do
  local members = redis.call('ZRANGE', KEYS[1], start, start + 999)
  if #members == 0 then break end
  for _, member in ipairs(members) do
    local tab = string.find(member, '\t', 1, true)
    local payload = string.sub(member, tab + 1)
    if string.sub(payload, 1, n) == prefix then
      local after = string.sub(payload, n + 1, n + 1)
      if any or after == ',' or after == '}' then
        if most > 0 and #matches == most then
          more = 1
          break
        end
        matches[#matches + 1] = member
      end
    end
  end
  start = start + 1000
end
if most == 0 then
  local removed = 0
  for _, member in ipairs(matches) do removed = removed + redis.call('ZREM', KEYS[1], member) end
  return removed
end
local out = {more}
for _, member in ipairs(matches) do
  if redis.call('ZREM', KEYS[1], member) == 1 then out[#out + 1] = member end
end
return out
