-- setbal.lua: cache the user's PostgreSQL balance, never replacing a newer copy with an older.
-- KEYS[1] balance hash {pN}:u:<uid>:bal
-- ARGV: 1 PostgreSQL balance, 2 its balance_version
-- Returns {pg, pending}
local v = tonumber(redis.call('HGET', KEYS[1], 'v'))
if not v or tonumber(ARGV[2]) > v then
  redis.call('HSET', KEYS[1], 'pg', ARGV[1], 'v', ARGV[2])
end
local b = redis.call('HMGET', KEYS[1], 'pg', 'pend')
return {tonumber(b[1]) or 0, tonumber(b[2]) or 0}
