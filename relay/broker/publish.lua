-- Store and publish one event of a session, atomically, at a cost that does not grow with the answer.
-- KEYS[1] live hash (epoch, seq, publish_id, the in-flight message's id and status), KEYS[2] log stream,
-- KEYS[3] the in-flight message's content so far, KEYS[4] its changes (concatenated msgpack maps):
-- strings that grow by APPEND, never read back here; KEYS[5] the cached attachment, KEYS[6] the grants set:
-- every key of the session expires ARGV[5] seconds after its last event. They are renewed at most once a
-- second (EXPIRE on six keys was a quarter of the script's cost), so ARGV[5] is a second longer than the
-- ttl the operator chose (`RedisConnection.session_ttl_seconds`); a key made between renewals is given its
-- expiry as it is made.
-- ARGV[1] channel, ARGV[2] the log entry (schema/events.py: event code, ts, payload),
-- ARGV[3] epoch to start if the session has none, ARGV[4] log length,
-- ARGV[5] ttl seconds, ARGV[6] snapshot op, ARGV[7] message id, ARGV[8] op value,
-- ARGV[9] 's' to publish with SPUBLISH (cluster), anything else PUBLISH
-- ARGV[10] id of this publish: a retry after a lost reply must not publish twice
-- ARGV[11] '1' when the event outdates a cached attachment: its seq becomes the live hash's 'pseq'
-- (the attachment's seq, `Snapshot.attachment_seq`)
-- ARGV[12] the publishing generation's lease ('0': not a generation's event, never fenced),
-- ARGV[13] how the lease is checked: 'l' an event of the message in flight, 'e' its start or error, '' none,
-- ARGV[14] the event's name, ARGV[15] the log's cap in bytes (of its entries).
-- Returns {seq, epoch} ({seq, epoch, 'again'} for a publish made before: its retry after a lost reply);
-- {0, 'fenced'} when the lease is stale or the message already ended, {0, 'lost'} when
-- a streamed event finds no generation started in the session's history (log.py).
local live, log, content, changes = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local entry, message_id = ARGV[2], ARGV[7]
if redis.call('HGET', live, 'publish_id') == ARGV[10] then
  local made = redis.call('HMGET', live, 'seq', 'epoch')
  made[3] = 'again'
  return made
end
local state = redis.call('HMGET', live, 'epoch', 'message_id', 'lease', 'done', 'gmsg', 'renewed')
local epoch, in_flight = state[1], state[2]
local ttl, second = ARGV[5], redis.call('TIME')[1]
local lease, fence = tonumber(ARGV[12]), ARGV[13]
if lease > 0 and fence ~= '' then
  local current = in_flight == message_id
  local stale = current and lease < tonumber(state[3] or '0')
  if state[4] == message_id or stale or (fence == 'l' and not current and state[5]) then
    return {0, 'fenced'}
  end
  if fence == 'l' and not state[5] then
    -- No generation started in this history (Redis lost it, or it expired): the generation decides whether
    -- its message is still its own to publish again, from its message_processing on (log.py).
    return {0, 'lost'}
  end
  if current then
    redis.call('HSET', live, 'lease', lease)
  end
end
if not epoch then
  -- History was lost (or never was): a new epoch, and nothing stale under it.
  epoch = ARGV[3]
  redis.call('DEL', log, content, changes)
  redis.call('HSET', live, 'epoch', epoch, 'lbytes', 0)
  state[6] = nil
end
local seq = redis.call('HINCRBY', live, 'seq', 1)
redis.call('HSET', live, 'publish_id', ARGV[10])
if ARGV[11] == '1' then
  redis.call('HSET', live, 'pseq', seq)
end
local op, value = ARGV[6], ARGV[8]

-- The log entry names its message only when it is not the one in flight (whose start entry names it):
-- a chunk costs its payload and a few bytes. position.lua gives replayed entries their message ids back.
local size = #entry
if op == 'start' or in_flight ~= message_id then
  redis.call('XADD', log, seq .. '-0', 'e', entry, 'm', message_id)
  size = size + #message_id
else
  redis.call('XADD', log, seq .. '-0', 'e', entry)
end
-- Capped in entries and in bytes; past a cap the oldest go, a tenth of the cap at once (so that the
-- entries read back to count their bytes are read once each), never the newest.
local bytes = redis.call('HINCRBY', live, 'lbytes', size)
local max_length, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[15])
local length = redis.call('XLEN', log)
if length > max_length or bytes > max_bytes then
  local keep_length, keep_bytes = max_length - math.floor(max_length / 10), max_bytes - math.floor(max_bytes / 10)
  local last
  while length > 1 and (length > keep_length or bytes > keep_bytes) do
    local oldest = redis.call('XRANGE', log, last and ('(' .. last) or '-', '+', 'COUNT', 100)
    if #oldest == 0 then
      break
    end
    for _, item in ipairs(oldest) do
      if length <= 1 or (length <= keep_length and bytes <= keep_bytes) then
        break
      end
      local fields = item[2]
      bytes = bytes - #fields[2] - (fields[4] and #fields[4] or 0)
      length = length - 1
      last = item[1]
    end
  end
  if last then
    redis.call('XTRIM', log, 'MINID', (tonumber(string.match(last, '^%d+')) + 1) .. '-0')
    redis.call('HSET', live, 'lbytes', bytes)
  end
end

if op == 'start' then
  redis.call('HSET', live, 'message_id', message_id, 'status', value, 'lease', lease, 'gseq', seq, 'gmsg', message_id)
  redis.call('DEL', content, changes)
elseif op == 'chunk' then
  if redis.call('APPEND', content, value) == #value then
    redis.call('EXPIRE', content, ttl)
  end
elseif op == 'status' then
  redis.call('HSET', live, 'status', value)
elseif op == 'change' then
  if redis.call('APPEND', changes, value) == #value then
    redis.call('EXPIRE', changes, ttl)
  end
elseif op == 'finish' then
  -- Final is final: no event of this message but another new_message is accepted from now on.
  redis.call('HSET', live, 'done', message_id)
  if in_flight == message_id then
    redis.call('HDEL', live, 'message_id', 'status', 'lease')
    redis.call('DEL', content, changes)
  end
end
if state[6] ~= second then
  redis.call('HSET', live, 'renewed', second)
  for _, key in ipairs(KEYS) do
    redis.call('EXPIRE', key, ttl)
  end
end
local pack = cmsgpack.pack
local data = '\135' .. pack('v') .. pack(1) .. pack('event') .. pack(ARGV[14]) .. pack('message_id') .. pack(message_id)
  .. pack('ts') .. string.sub(entry, 2, 10) .. pack('payload') .. string.sub(entry, 11)
  .. pack('seq') .. pack(seq) .. pack('epoch') .. pack(epoch)
if ARGV[9] == 's' then
  redis.call('SPUBLISH', ARGV[1], data)
else
  redis.call('PUBLISH', ARGV[1], data)
end
return {seq, epoch}
