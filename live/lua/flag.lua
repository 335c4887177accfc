-- flag.lua: put one user on hold for multi-account review (docs/money.md, "Multi-account
-- review"), once: the hold flag and the review event are written together.
-- KEYS[1] balance hash   {pN}:u:<uid>:bal   (hold 1 = on hold; rvok = exempt until, ms)
-- KEYS[2] outbox stream  {pN}:outbox
-- ARGV: 1 user id, 2 reason (device | ip), 3 the device id or IP address,
--       4 accounts seen on it within the window
-- A user already on hold, or approved by an admin less than a window ago (rvok in the
-- future), is left alone. Otherwise `hold` = 1 and the outbox gets
-- `t=f fid uid why key n ts` (fid f:<uid>:<ms>: the review row's idempotency key).
-- While `hold` = 1, tick.lua writes grants marked held and keeps them out of `pend`.
-- Returns 1 when the user was put on hold now, else 0.
-- OUTBOX f: fid uid why key n ts
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'hold', 'rvok')
if b[1] == '1' or (tonumber(b[2]) or 0) > now then
  return 0
end
redis.call('HSET', KEYS[1], 'hold', 1)
redis.call('XADD', KEYS[2], '*', 't', 'f', 'fid', 'f:' .. ARGV[1] .. ':' .. now, 'uid', ARGV[1],
  'why', ARGV[2], 'key', ARGV[3], 'n', ARGV[4], 'ts', now)
return 1
