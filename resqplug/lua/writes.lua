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
-- step and the other writes still happen. A batched fragment (BATCHED) is not
-- called per write: apply_writes gathers its writes' keys and args, and
-- apply_batched, at the end of the carrying script, calls it once with all of
-- them, their count and their jobs' payloads (resqplug.writes.Batched).
-- Returns (alone) the errors, one string per failed write ('name: error').
local WRITES, BATCHED, GATHERED = {}, {}, {}
--@fragments
local function write_error(name, err)
  if type(err) == 'table' then err = err.err or err.message end
  return name .. ': ' .. tostring(err)
end

-- A batched write's keys and args, added to its fragment's; `job` is the
-- payload of the job it came with ('' where the carrier writes none).
local function gather(name, key_at, nkeys, at, nargs, job)
  local held = GATHERED[name]
  if not held then
    held = {{}, {}, 0, {}, 0, 0}  -- keys, args, count, jobs, #keys, #args
    GATHERED[name] = held
    GATHERED[#GATHERED + 1] = name  -- called in the order first seen
  end
  local keys, args, k, a = held[1], held[2], held[5], held[6]
  for i = key_at, key_at + nkeys - 1 do k = k + 1; keys[k] = KEYS[i] end
  for i = at, at + nargs - 1 do a = a + 1; args[a] = ARGV[i] end
  local n = held[3] + 1
  held[3], held[5], held[6] = n, k, a
  held[4][n] = job
end

-- Apply `count` writes starting at ARGV[at], their keys at KEYS[key_at], for
-- the job whose payload is `job` (or ''); returns the positions after them.
local function apply_writes(key_at, at, count, errors, job)
  for _ = 1, count do
    local name = ARGV[at]
    local nkeys, nargs = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
    if BATCHED[name] then
      gather(name, key_at, nkeys, at + 3, nargs, job)
    else
      local ok, err = pcall(WRITES[name], {unpack(KEYS, key_at, key_at + nkeys - 1)},
        {unpack(ARGV, at + 3, at + 2 + nargs)}, 1)
      if not ok then errors[#errors + 1] = write_error(name, err) end
    end
    key_at = key_at + nkeys
    at = at + 3 + nargs
  end
  return key_at, at
end

-- The batched fragments, each once with the writes gathered for it.
local function apply_batched(errors)
  for _, name in ipairs(GATHERED) do
    local held = GATHERED[name]
    local ok, err = pcall(WRITES[name], held[1], held[2], held[3], held[4])
    if not ok then errors[#errors + 1] = write_error(name, err) end
  end
end
--@alone (what follows runs only when this file is the script)
local errors = {}
apply_writes(1, 2, tonumber(ARGV[1]), errors, '')
apply_batched(errors)
return errors
