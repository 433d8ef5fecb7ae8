-- Store and publish one event of a session, atomically, at a cost that does not grow with the answer.
-- KEYS[1] live hash (epoch, seq, publish_id, the in-flight message's id and status), KEYS[2] log stream,
-- KEYS[3] the in-flight message's content so far, KEYS[4] its changes (concatenated msgpack maps):
-- strings that grow by APPEND, never read back here; KEYS[5] the cached join page, KEYS[6] the claim set:
-- every key of the session expires ARGV[5] seconds after its last event.
-- ARGV[1] channel, ARGV[2] envelope head (msgpack, lacking seq and epoch),
-- ARGV[3] epoch to start if the session has none, ARGV[4] log length,
-- ARGV[5] ttl seconds, ARGV[6] snapshot op, ARGV[7] message id, ARGV[8] op value,
-- ARGV[9] 's' to publish with SPUBLISH (cluster), anything else PUBLISH
-- ARGV[10] id of this publish: a retry after a lost reply must not publish twice
-- ARGV[11] '1' when the event is page-changing: its seq becomes the live hash's 'pseq' (relay/join_page.py)
-- ARGV[12] the publishing generation's lease ('0': not a generation's event, never fenced),
-- ARGV[13] how the lease is checked: 'l' an event of the message in flight, 'e' its start or error, '' none.
-- Returns {seq, epoch}, or {0, 'fenced'} when the lease is stale or the message already ended (log.py).
local live, log, content, changes = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('HGET', live, 'publish_id') == ARGV[10] then
  return redis.call('HMGET', live, 'seq', 'epoch')
end
local epoch = redis.call('HGET', live, 'epoch')
local lease, fence = tonumber(ARGV[12]), ARGV[13]
if not epoch then
  -- History was lost (or never was): a new epoch, and nothing stale under it.
  epoch = ARGV[3]
  redis.call('DEL', log, content, changes)
  redis.call('HSET', live, 'epoch', epoch)
elseif lease > 0 and fence ~= '' then
  local flight = redis.call('HMGET', live, 'message_id', 'lease', 'done')
  local current = flight[1] == ARGV[7]
  if flight[3] == ARGV[7] or (current and lease < tonumber(flight[2] or '0')) or (fence == 'l' and not current) then
    return {0, 'fenced'}
  end
  if current then
    redis.call('HSET', live, 'lease', lease)
  end
end
local seq = redis.call('HINCRBY', live, 'seq', 1)
redis.call('HSET', live, 'publish_id', ARGV[10])
if ARGV[11] == '1' then
  redis.call('HSET', live, 'pseq', seq)
end
local data = ARGV[2] .. cmsgpack.pack('seq') .. cmsgpack.pack(seq) .. cmsgpack.pack('epoch') .. cmsgpack.pack(epoch)
redis.call('XADD', log, 'MAXLEN', '~', ARGV[4], seq .. '-0', 'e', data)

local op, value = ARGV[6], ARGV[8]
if op == 'start' then
  redis.call('HSET', live, 'message_id', ARGV[7], 'status', value, 'lease', lease)
  redis.call('DEL', content, changes)
elseif op == 'chunk' then
  redis.call('APPEND', content, value)
elseif op == 'status' then
  redis.call('HSET', live, 'status', value)
elseif op == 'change' then
  redis.call('APPEND', changes, value)
elseif op == 'finish' then
  -- Final is final: no event of this message but another new_message is accepted from now on.
  redis.call('HSET', live, 'done', ARGV[7])
  if redis.call('HGET', live, 'message_id') == ARGV[7] then
    redis.call('HDEL', live, 'message_id', 'status', 'lease')
    redis.call('DEL', content, changes)
  end
end
for _, key in ipairs(KEYS) do
  redis.call('EXPIRE', key, ARGV[5])
end
if ARGV[9] == 's' then
  redis.call('SPUBLISH', ARGV[1], data)
else
  redis.call('PUBLISH', ARGV[1], data)
end
return {seq, epoch}
