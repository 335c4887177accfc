-- stop.lua: end the live watch session (the "out event").
-- KEYS[1] session hash   {pN}:u:<uid>:sess
-- KEYS[2] deadlines zset {pN}:deadlines
-- KEYS[3] outbox stream  {pN}:outbox
-- ARGV: 1 user id, 2 session id ('' = match by tab id and content id), 3 tab id, 4 content id
-- Returns {'stopped', content_id, watched_ms} or {'no_session'}
-- OUTBOX e: sid uid cid wms ts why
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = redis.call('HMGET', KEYS[1], 'cid', 'tab', 'sid', 'wms')
if not s[3] then
  return {'no_session'}
end
if ARGV[2] ~= '' then
  if s[3] ~= ARGV[2] then return {'no_session'} end
elseif s[2] ~= ARGV[3] or s[1] ~= ARGV[4] then
  return {'no_session'}
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], '*', 't', 'e', 'sid', s[3], 'uid', ARGV[1], 'cid', s[1],
  'wms', s[4] or '0', 'ts', now, 'why', 'stop')
return {'stopped', s[1], tonumber(s[4]) or 0}
