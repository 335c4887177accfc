-- sweep.lua: end the sessions of one partition whose deadline has passed.
-- KEYS[1] deadlines zset {pN}:deadlines
-- KEYS[2] outbox stream  {pN}:outbox
-- ARGV: 1 partition hash tag ({pN}), 2 most sessions to end in this call
-- The session hashes are named from ARGV[1] (same hash tag, so the same slot as KEYS).
-- Returns {user_id, content_id, user_id, content_id, ...} of the sessions ended.
-- OUTBOX e: sid uid cid wms ts why
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - 1, 'LIMIT', 0, tonumber(ARGV[2]))
local ended = {}
for _, uid in ipairs(due) do
  local key = ARGV[1] .. ':u:' .. uid .. ':sess'
  local s = redis.call('HMGET', key, 'cid', 'sid', 'wms', 'dl')
  local dl = tonumber(s[4])
  if dl and dl >= now then
    redis.call('ZADD', KEYS[1], dl, uid)  -- the set was behind the session: repair it
  else
    redis.call('ZREM', KEYS[1], uid)
    if s[2] then
      redis.call('DEL', key)
      redis.call('XADD', KEYS[2], '*', 't', 'e', 'sid', s[2], 'uid', uid, 'cid', s[1],
        'wms', s[3] or '0', 'ts', now, 'why', 'expired')
      ended[#ended + 1] = uid
      ended[#ended + 1] = s[1]
    end
  end
end
return ended
