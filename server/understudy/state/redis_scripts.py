"""The Lua scripts of the Redis backend: each runs atomically in Redis, so what one
process reads and writes in a script no other process can interleave with."""

JOURNAL = """
local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
end
local function weight(fields)
  return tonumber(field(fields, 'size')) or 0
end
local function clear_journal(stream, total, ns)
  if ns == '*' then
    local count = redis.call('XLEN', stream)
    redis.call('DEL', stream, total)
    return count
  end
  local count, bytes = 0, 0
  for _, entry in ipairs(redis.call('XRANGE', stream, '-', '+')) do
    if field(entry[2], 'ns') == ns then
      redis.call('XDEL', stream, entry[1])
      count = count + 1
      bytes = bytes + weight(entry[2])
    end
  end
  if bytes > 0 then redis.call('DECRBY', total, bytes) end
  return count
end
"""
"""What the journal scripts share. Each stream entry has its ``size`` (what it costs the
byte budget, as the memory journal weighs it) and ``total`` holds their sum;
``clear_journal`` removes every entry (``*``) or one namespace's, and their bytes."""

APPEND = (
    JOURNAL
    + """
local stream, total = KEYS[1], KEYS[2]
local max_len, max_bytes, size = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
local id = redis.call('INCR', KEYS[3])
redis.call('XADD', stream, '*', 'id', id, 'ns', ARGV[3], 'size', size, 'data', ARGV[5])
local count = redis.call('XLEN', stream)
local bytes = redis.call('INCRBY', total, size)
if count > max_len or bytes > max_bytes then
  while count > 0 and (count > max_len or bytes > max_bytes) do
    local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
    redis.call('XDEL', stream, oldest[1])
    count = count - 1
    bytes = bytes - weight(oldest[2])
  end
  redis.call('SET', total, count > 0 and bytes or 0)
end
return id
"""
)
"""Journal an entry, then drop the oldest until at most ``max_len`` entries and
``max_bytes`` are kept (an entry larger than the whole budget goes too, as in memory)."""

KEPT = """
local function index(at)
  return {order = KEYS[at], sizes = KEYS[at + 1], total = KEYS[at + 2], uses = KEYS[at + 3]}
end
local function unindex(ix, key)
  local size = redis.call('HGET', ix.sizes, key)
  if size then
    redis.call('HDEL', ix.sizes, key)
    redis.call('DECRBY', ix.total, size)
  end
  redis.call('ZREM', ix.order, key)
end
local function drop(ix, key)
  unindex(ix, key)
  return redis.call('DEL', key)
end
local function used(ix, key, idle)
  redis.call('ZADD', ix.order, 'XX', redis.call('INCR', ix.uses), key)
  if idle and tonumber(idle) > 0 then redis.call('PEXPIRE', key, idle) end
end
"""
"""What the kept-reply scripts share: the index of every kept reply, for the bounds.

``index(at)`` names its keys, ``KEYS[at]`` on: ``order`` (sorted set: a reply's key by
its last use, numbered by the counter ``uses``), ``sizes`` (hash: its weight) and
``total`` (their sum). A reply whose key expired (idle) stays indexed, and counted, until
it is looked up or evicted, as the memory store keeps it until then."""

PUT = (
    KEPT
    + """
local ix, key, idle, size = index(2), KEYS[1], ARGV[2], tonumber(ARGV[3])
local max_size, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[5])
drop(ix, key)
redis.call('HSET', key, 'data', ARGV[1], 'state', '', 'idle', idle)
if tonumber(idle) > 0 then redis.call('PEXPIRE', key, idle) end
redis.call('ZADD', ix.order, redis.call('INCR', ix.uses), key)
redis.call('HSET', ix.sizes, key, size)
local total = redis.call('INCRBY', ix.total, size)
while redis.call('ZCARD', ix.order) > max_size or total > max_bytes do
  local oldest = redis.call('ZRANGE', ix.order, 0, 0)[1]
  if oldest == key then
    -- Only this reply is left, yet the total is over: it had drifted (an index key
    -- evicted by Redis's own maxmemory policy, say). Start it again from this reply.
    redis.call('SET', ix.total, size)
    break
  end
  drop(ix, oldest)
  total = tonumber(redis.call('GET', ix.total))
end
"""
)
"""Keep a reply (the caller has checked it fits the budget at all), then evict the least
recently used until at most ``max_size`` replies and ``max_bytes`` are kept."""

GET = (
    KEPT
    + """
local ix = index(2)
local kept = redis.call('HMGET', KEYS[1], 'data', 'idle')
if not kept[1] and not kept[2] then
  unindex(ix, KEYS[1])
  return nil
end
used(ix, KEYS[1], kept[2])
return kept[1]
"""
)

CLAIM = (
    KEPT
    + """
local ix = index(2)
local kept = redis.call('HMGET', KEYS[1], 'data', 'state', 'idle')
if not kept[1] and not kept[2] then
  unindex(ix, KEYS[1])
  return {'missing'}
end
used(ix, KEYS[1], kept[3])
if kept[2] == 'continued' then return {'continued'} end
if kept[2] == 'in_flight' then return {'in_flight'} end
redis.call('HSET', KEYS[1], 'state', 'in_flight')
return {'claimed', kept[1]}
"""
)

RELEASE = (
    KEPT
    + """
local ix = index(2)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '1' then
  -- Continued: only that fact is kept, which weighs nothing.
  redis.call('HDEL', KEYS[1], 'data')
  redis.call('HSET', KEYS[1], 'state', 'continued')
  local size = redis.call('HGET', ix.sizes, KEYS[1])
  if size then
    redis.call('DECRBY', ix.total, size)
    redis.call('HSET', ix.sizes, KEYS[1], 0)
  end
else
  redis.call('HSET', KEYS[1], 'state', '')
end
return 1
"""
)

DELETE = (
    KEPT
    + """
return drop(index(2), KEYS[1])
"""
)

CLEAR_JOURNAL = (
    JOURNAL
    + """
return clear_journal(KEYS[1], KEYS[2], ARGV[1])
"""
)

FORGET = (
    JOURNAL
    + KEPT
    + """
local prefix, ns, ix = ARGV[1], ARGV[2], index(4)
local function drop_keys(pattern, names)
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
local function drop_kept(pattern)
  local cursor = '0'
  repeat
    local found = redis.call('HSCAN', ix.sizes, cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = found[1]
    for i = 1, #found[2], 2 do drop(ix, found[2][i]) end
  until cursor == '0'
  drop_keys(pattern)
end
local names = {}
if ns == '*' then
  drop_keys(prefix .. 's:*', names)
  drop_keys(prefix .. 'c:*')
  drop_keys(prefix .. 'k:*')
  redis.call('DEL', ix.order, ix.sizes, ix.total, ix.uses)
else
  names = redis.call('HKEYS', prefix .. 's:' .. ns)
  redis.call('DEL', prefix .. 's:' .. ns, prefix .. 'c:' .. ns)
  drop_kept(prefix .. 'k:' .. ns .. ':*')
end
local entries = clear_journal(KEYS[1], KEYS[2], ns)
redis.call('PUBLISH', KEYS[3], ns)
return {entries, names}
"""
)
"""Forget a namespace (``*``: all) in one step: its scenarios, counters, kept replies and
journal entries; every process compiles it again. A namespace's kept replies are those
the index lists (expired ones too) and any key left under its prefix."""
