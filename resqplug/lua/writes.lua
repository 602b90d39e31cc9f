-- writes.lua: the plugins' writes, applied inside the core script that carries
-- them (enqueue, enqueue_batch, ack) or alone (Resq.apply_writes). The core
-- inserts this text at the top of those scripts, with every fragment a loaded
-- plugin registered (hook ``write_scripts``) defined as a function of its own
-- KEYS and ARGV in WRITES, under the name it was registered with.
-- Alone, as a script of its own:
-- KEYS the keys of the writes, in order
-- ARGV[1] number of writes, then the writes (below)
-- A write in ARGV is: fragment name, n (its keys: the next n KEYS), m, then its
-- m arguments. A fragment that raises is reported, not fatal: the core's own
-- step and the other writes still happen.
-- Returns (alone) the errors, one string per failed write ('name: error').
local WRITES = {}
--@fragments
local function write_error(name, err)
  if type(err) == 'table' then err = err.err or err.message end
  return name .. ': ' .. tostring(err)
end

-- Apply `count` writes starting at ARGV[at], their keys at KEYS[key_at];
-- returns the positions after them.
local function apply_writes(key_at, at, count, errors)
  for _ = 1, count do
    local name = ARGV[at]
    local nkeys, nargs = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
    local ok, err = pcall(WRITES[name], {unpack(KEYS, key_at, key_at + nkeys - 1)},
      {unpack(ARGV, at + 3, at + 2 + nargs)})
    if not ok then errors[#errors + 1] = write_error(name, err) end
    key_at = key_at + nkeys
    at = at + 3 + nargs
  end
  return key_at, at
end
--@alone (what follows runs only when this file is the script)
local errors = {}
apply_writes(1, 2, tonumber(ARGV[1]), errors)
return errors
