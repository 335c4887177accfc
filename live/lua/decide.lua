-- decide.lua: an admin's review decision, applied to the user's hold flag (after the
-- PostgreSQL transaction that released or voided the held grants committed).
-- KEYS[1] balance hash {pN}:u:<uid>:bal
-- ARGV: 1 decision: 'approve' or 'reject', 2 (approve) how long the user is exempt from new
--       flags, ms (the review window: the accounts that were counted are still counted)
-- approve: hold = 0, rvok = now + ARGV[2]; reject: hold = 1 (the account stays on hold).
-- Returns the previous hold value (1 or 0).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local before = redis.call('HGET', KEYS[1], 'hold') == '1' and 1 or 0
if ARGV[1] == 'approve' then
  redis.call('HSET', KEYS[1], 'hold', 0, 'rvok', now + tonumber(ARGV[2]))
else
  redis.call('HSET', KEYS[1], 'hold', 1)
  redis.call('HDEL', KEYS[1], 'rvok')
end
return before
