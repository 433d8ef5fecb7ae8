-- Where a joining tab starts, read atomically in one round trip with the session's cached join page.
-- KEYS[1] live hash, KEYS[2] log stream, KEYS[3] the in-flight message's content, KEYS[4] its changes,
-- KEYS[5] the join page (relay/join_page.py). All five share the session's slot.
-- ARGV[1] the tab's `since` epoch ('' when it has none), ARGV[2] its `since` seq,
-- ARGV[3] the epoch to start if the session has none ('': start none, the reply's epoch is then false),
-- ARGV[4] ttl seconds, ARGV[5] '1' to read the page.
-- Returns {epoch, seq, page_seq, page, 'r', event...} when the log holds every event after `since`,
-- else {epoch, seq, page_seq, page, 's', message_id, status, content, changes, lease} (the snapshot).
local live = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'pseq', 'message_id', 'status', 'lease')
local epoch, seq, page_seq = live[1], tonumber(live[2] or '0'), tonumber(live[3] or '0')
local page = ARGV[5] == '1' and redis.call('GET', KEYS[5])
if epoch and epoch == ARGV[1] then
  local since = tonumber(ARGV[2])
  if since == seq then
    return {epoch, seq, page_seq, page, 'r'}
  end
  if since < seq then
    local first = (since + 1) .. '-0'
    local entries = redis.call('XRANGE', KEYS[2], first, '+')
    if #entries > 0 and entries[1][1] == first then
      local reply = {epoch, seq, page_seq, page, 'r'}
      for _, entry in ipairs(entries) do
        reply[#reply + 1] = entry[2][2]
      end
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
return {epoch, seq, page_seq, page, 's', live[4], live[5], redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4]), live[6]}
