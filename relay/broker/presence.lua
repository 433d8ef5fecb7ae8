-- Presence of one session: KEYS[1] hash ref -> entry, KEYS[2] sorted set ref -> expiry (ms, Redis's clock).
-- ARGV[1] is the operation; expiries use Redis's own clock so gateways' clocks never matter. A diff is
-- published on the session's channel (its slot is the keys' slot, so SPUBLISH works on a cluster).
local op = ARGV[1]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local function present()
  local refs = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')
  if #refs == 0 then return {} end
  local entries = redis.call('HMGET', KEYS[1], unpack(refs))
  local found = {}
  for _, entry in ipairs(entries) do
    if entry then table.insert(found, entry) end
  end
  return found
end

if op == 'track' then -- publish command, channel, join diff, key ttl s, ref, entry, ttl ms; returns who is present
  redis.call(ARGV[2], ARGV[3], ARGV[4])
  redis.call('HSET', KEYS[1], ARGV[6], ARGV[7])
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[8]), ARGV[6])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  return present()
elseif op == 'untrack' then -- publish command, channel, leave diff, ref; the diff only if the tab was present
  if redis.call('HDEL', KEYS[1], ARGV[5]) == 1 then
    redis.call('ZREM', KEYS[2], ARGV[5])
    redis.call(ARGV[2], ARGV[3], ARGV[4])
  end
  return 1
elseif op == 'keep' then -- key ttl s, then ref, ttl ms pairs; returns the expired entries it removed
  for i = 3, #ARGV, 2 do -- tabs still present get more time; gone ones stay gone
    redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[i + 1]), ARGV[i])
  end
  if #ARGV > 2 then
    redis.call('EXPIRE', KEYS[1], ARGV[2])
    redis.call('EXPIRE', KEYS[2], ARGV[2])
  end
  local refs = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
  if #refs == 0 then return {} end
  local entries = redis.call('HMGET', KEYS[1], unpack(refs))
  redis.call('HDEL', KEYS[1], unpack(refs))
  redis.call('ZREM', KEYS[2], unpack(refs))
  local removed = {}
  for _, entry in ipairs(entries) do
    if entry then table.insert(removed, entry) end
  end
  return removed
elseif op == 'list' then -- the entries not expired
  return present()
end
return redis.error_reply('unknown presence operation ' .. tostring(op))
