"""The Lua scripts of the Redis backend: each runs atomically in Redis, so what one
process reads and writes in a script no other process can interleave with."""

APPEND = """
local id = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'id', id, 'ns', ARGV[2], 'data', ARGV[3])
return id
"""

GET = """
local kept = redis.call('HMGET', KEYS[1], 'data', 'idle')
if kept[2] and tonumber(kept[2]) > 0 then redis.call('PEXPIRE', KEYS[1], kept[2]) end
return kept[1]
"""

CLAIM = """
local kept = redis.call('HMGET', KEYS[1], 'data', 'state', 'idle')
if not kept[1] and not kept[2] then return {'missing'} end
if kept[3] and tonumber(kept[3]) > 0 then redis.call('PEXPIRE', KEYS[1], kept[3]) end
if kept[2] == 'continued' then return {'continued'} end
if kept[2] == 'in_flight' then return {'in_flight'} end
redis.call('HSET', KEYS[1], 'state', 'in_flight')
return {'claimed', kept[1]}
"""

RELEASE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '1' then
  redis.call('HDEL', KEYS[1], 'data')
  redis.call('HSET', KEYS[1], 'state', 'continued')
else
  redis.call('HSET', KEYS[1], 'state', '')
end
return 1
"""

CLEAR_JOURNAL = """
if ARGV[1] == '*' then
  local count = redis.call('XLEN', KEYS[1])
  redis.call('DEL', KEYS[1])
  return count
end
local count = 0
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'ns' and fields[i + 1] == ARGV[1] then
      redis.call('XDEL', KEYS[1], entry[1])
      count = count + 1
    end
  end
end
return count
"""

FORGET = """
local prefix, ns = ARGV[1], ARGV[2]
local function drop(pattern, names)
  local cursor = '0'
  repeat
    local found = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = found[1]
    for _, key in ipairs(found[2]) do
      if names then
        for _, name in ipairs(redis.call('HKEYS', key)) do table.insert(names, name) end
      end
      redis.call('DEL', key)
    end
  until cursor == '0'
end
local names, entries = {}, 0
if ns == '*' then
  drop(prefix .. 's:*', names)
  drop(prefix .. 'c:*')
  drop(prefix .. 'k:*')
  entries = redis.call('XLEN', KEYS[1])
  redis.call('DEL', KEYS[1])
else
  names = redis.call('HKEYS', prefix .. 's:' .. ns)
  redis.call('DEL', prefix .. 's:' .. ns, prefix .. 'c:' .. ns)
  drop(prefix .. 'k:' .. ns .. ':*')
  for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
    local fields = entry[2]
    for i = 1, #fields, 2 do
      if fields[i] == 'ns' and fields[i + 1] == ns then
        redis.call('XDEL', KEYS[1], entry[1])
        entries = entries + 1
      end
    end
  end
end
redis.call('PUBLISH', KEYS[2], ns)
return {entries, names}
"""
"""Forget a namespace (``*``: all) in one step: its scenarios, counters, kept replies and
journal entries; every process compiles it again."""
