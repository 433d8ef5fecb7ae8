-- Where a joining tab starts, read atomically in one round trip with the session's cached attachment.
-- KEYS[1] live hash, KEYS[2] log stream, KEYS[3] the in-flight message's content, KEYS[4] its changes,
-- KEYS[5] the cached attachment (`EventLog.store_attachment`). All five share the session's slot.
-- ARGV[1] the tab's `since` epoch ('' when it has none), ARGV[2] its `since` seq,
-- ARGV[3] the epoch to start if the session has none ('': start none, the reply's epoch is then false),
-- ARGV[4] ttl seconds, ARGV[5] '1' to read the attachment, ARGV[6] the event code of message_processing.
-- Returns {epoch, seq, attachment_seq, attachment, 'r', (entry id, entry, message id)...} when the log holds
-- every event after `since`, else {epoch, seq, attachment_seq, attachment, 's', message_id, status, content,
-- changes, lease} (the snapshot). A log entry names its message only when that was not the message in flight (publish.lua): the
-- others belong to the message of the latest `message_processing` before them.
local live = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'pseq', 'message_id', 'status', 'lease', 'gseq', 'gmsg')
local epoch, seq, attachment_seq = live[1], tonumber(live[2] or '0'), tonumber(live[3] or '0')
local attachment = ARGV[5] == '1' and redis.call('GET', KEYS[5])
local start_code = string.char(tonumber(ARGV[6]))

-- The message that the entries right after `since` belong to, unless they name their own.
local function message_at(since)
  if tonumber(live[7] or '0') <= since then
    return live[8]
  end
  local before = since .. '-0'
  while true do
    local entries = redis.call('XREVRANGE', KEYS[2], before, '-', 'COUNT', 100)
    if #entries == 0 then
      return false
    end
    for _, item in ipairs(entries) do
      if string.sub(item[2][2], 1, 1) == start_code then
        return item[2][4]
      end
      before = '(' .. item[1]
    end
  end
end

local function replayed(since)
  local first = (since + 1) .. '-0'
  local entries = redis.call('XRANGE', KEYS[2], first, '+')
  if #entries == 0 or entries[1][1] ~= first then
    return nil
  end
  local reply = {epoch, seq, attachment_seq, attachment, 'r'}
  local current = message_at(since)
  for _, item in ipairs(entries) do
    local entry, message_id = item[2][2], item[2][4]
    if not message_id then
      message_id = current
      if not message_id then
        return nil  -- its message's start was trimmed away: the snapshot stands in
      end
    elseif string.sub(entry, 1, 1) == start_code then
      current = message_id
    end
    reply[#reply + 1] = item[1]
    reply[#reply + 1] = entry
    reply[#reply + 1] = message_id
  end
  return reply
end

if epoch and epoch == ARGV[1] then
  local since = tonumber(ARGV[2])
  if since == seq then
    return {epoch, seq, attachment_seq, attachment, 'r'}
  end
  if since < seq then
    local reply = replayed(since)
    if reply then
      return reply
    end
  end
end
if not epoch and ARGV[3] ~= '' then
  -- Never published, or expired: start the epoch now, so that the position
  -- a joining tab is given stays valid when events follow.
  epoch = ARGV[3]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return {epoch, seq, attachment_seq, attachment, 's', live[4], live[5], redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4]), live[6]}
