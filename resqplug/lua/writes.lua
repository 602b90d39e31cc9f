-- writes.lua: the plugins' writes, applied inside the core script that carries
-- them (enqueue, enqueue_batch, ack) or alone (Resq.apply_writes). The core
-- inserts this text at the top of those scripts, with every fragment a loaded
-- plugin registered (hook ``write_scripts``) defined as a function of its own
-- KEYS and ARGV in WRITES, under the name it was registered with.
-- Alone, as a script of its own:
-- KEYS the keys of the writes, in order
-- ARGV[1] number of plain writes, then the writes (below), then the batched
-- section; the last ARGV is where that section starts.
-- A plain write in ARGV is: fragment name, n (its keys: the next n KEYS), m,
-- then its m arguments; apply_writes calls its fragment. A fragment that
-- raises is reported, not fatal: the core's own step and the other writes
-- still happen. The batched section (resqplug.writes.Carried) holds the
-- writes of batched fragments, grouped by fragment, keys and shared args,
-- after every job's: its number of groups, then the groups (apply_batched);
-- their keys follow the plain writes' in KEYS. apply_batched, at the end of
-- the carrying script, calls each group's fragment once with the writes
-- whose job was written (resqplug.writes.Batched).
-- Returns (alone) the errors, one string per failed write ('name: error').
local WRITES = {}
--@fragments
local function write_error(name, err)
  if type(err) == 'table' then err = err.err or err.message end
  return name .. ': ' .. tostring(err)
end

-- Apply `count` plain writes starting at ARGV[at], their keys at
-- KEYS[key_at]; returns the positions after them.
local function apply_writes(key_at, at, count, errors)
  for _ = 1, count do
    local name = ARGV[at]
    local nkeys, nargs = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
    local ok, err = pcall(WRITES[name], {unpack(KEYS, key_at, key_at + nkeys - 1)},
      {unpack(ARGV, at + 3, at + 2 + nargs)}, 1)
    if not ok then errors[#errors + 1] = write_error(name, err) end
    key_at = key_at + nkeys
    at = at + 3 + nargs
  end
  return key_at, at
end

-- The args of a group's writes whose job is done (all when `done` is nil),
-- their count and their jobs' payloads. `numbers`: where the writes' job
-- numbers are (nil: they are 1, 2, 3, ...); `first`: where their args are.
local function group_args(numbers, first, count, nargs, done, jobs)
  local args, payloads, n, a = {}, {}, 0, 0
  for i = 1, count do
    local job = numbers and tonumber(ARGV[numbers + i - 1]) or i
    if not done or done[job] == 1 then
      n = n + 1
      payloads[n] = jobs and jobs[job] or ''
      local from = first + (i - 1) * nargs
      for x = from, from + nargs - 1 do a = a + 1; args[a] = ARGV[x] end
    end
  end
  return args, n, payloads
end

-- The batched writes (the section the last ARGV points at), each group's
-- fragment once with its writes whose job is done (`done[job] == 1`; all
-- when nil); their keys start at KEYS[key_at]; `jobs[job]` is a job's
-- payload, if known. A group is: fragment name, key count k, shared arg
-- count s, arg count per write m, write count c, then '*' when its writes'
-- jobs are 1..c, else c and the c job numbers; then the s shared args, then
-- c * m args. Its k keys are the next KEYS.
local function apply_batched(errors, key_at, done, jobs)
  local at = tonumber(ARGV[#ARGV])
  for _ = 1, tonumber(ARGV[at]) do
    local name, nkeys, nshared = ARGV[at + 1], tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
    local nargs, count = tonumber(ARGV[at + 4]), tonumber(ARGV[at + 5])
    local numbers, shared_at = nil, at + 7
    if ARGV[at + 6] ~= '*' then numbers, shared_at = at + 7, at + 7 + count end
    local first = shared_at + nshared
    local args, n, payloads = group_args(numbers, first, count, nargs, done, jobs)
    if n > 0 then
      local ok, err = pcall(WRITES[name], {unpack(KEYS, key_at, key_at + nkeys - 1)}, args, n,
        payloads, {unpack(ARGV, shared_at, first - 1)})
      if not ok then errors[#errors + 1] = write_error(name, err) end
    end
    key_at = key_at + nkeys
    at = first + count * nargs - 1
  end
end
--@alone (what follows runs only when this file is the script)
local errors = {}
local key_at = apply_writes(1, 2, tonumber(ARGV[1]), errors)
apply_batched(errors, key_at)
return errors
