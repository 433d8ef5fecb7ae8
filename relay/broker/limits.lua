-- Per-user limits; KEYS[1] is one bucket or one user's socket slots. ARGV[1] is the operation. Times are
-- Redis's own (ms), so gateways' clocks never matter.
local op = ARGV[1]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local function expire_with_last_slot()
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if #last > 0 then redis.call('PEXPIREAT', KEYS[1], last[2]) end
end

if op == 'take' then -- tokens per s, burst; returns 0 when a token was taken, else ms until one is there
  local rate, burst = tonumber(ARGV[2]), tonumber(ARGV[3])
  local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  local tokens, at = tonumber(state[1]), tonumber(state[2])
  if tokens == nil or at == nil then tokens, at = burst, now end
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
  local wait = 0
  if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
  -- a bucket left alone refills to the brim, which is what a missing one means
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
  return wait
elseif op == 'hold' then -- limit, slot, ttl ms; returns 1 when the slot holds one now
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if not redis.call('ZSCORE', KEYS[1], ARGV[3]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
    return 0
  end
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[3])
  expire_with_last_slot()
  return 1
elseif op == 'keep' then -- slot, ttl ms pairs: slots still held get more time, freed ones stay free
  for i = 2, #ARGV, 2 do
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[i + 1]), ARGV[i])
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  expire_with_last_slot()
  return 1
elseif op == 'free' then -- slot
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 1
end
return redis.error_reply('unknown limits operation ' .. tostring(op))
