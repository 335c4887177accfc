-- ack.lua: acknowledge outbox entries of one partition after their PostgreSQL commit.
-- KEYS[1] outbox stream {pN}:outbox
-- ARGV: 1 partition hash tag ({pN}), 2 consumer group, 3 number of entries n,
--       then n triples (entry id, user id, amount): user id '' for a session event,
--       then triples (user id, PostgreSQL balance, balance_version) to cache, to the end.
-- Per entry: XACK; only when it returns 1 (the entry was pending: the first ack of this
-- delivery, so never twice for one grant) is a grant's amount taken off the user's `pend`
-- and the entry deleted (trimmed). An entry whose XACK returns 0 is left alone: another
-- consumer acknowledged it already, or the group lost its delivery (a Redis restart) and will
-- deliver it again, when the replay is harmless and its ack does the bookkeeping.
-- Then each user's cached balance is replaced when the given version is newer (setbal.lua).
-- The balance hashes are named from ARGV[1] (same hash tag as KEYS[1], so the same slot).
-- Returns {entries acknowledged, coins taken off pend}
local tag, group = ARGV[1], ARGV[2]
local n = tonumber(ARGV[3])
local acked, coins = 0, 0
local i = 4
for _ = 1, n do
  local id, uid, amt = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  if redis.call('XACK', KEYS[1], group, id) == 1 then
    acked = acked + 1
    if uid ~= '' then
      local a = tonumber(amt)
      redis.call('HINCRBY', tag .. ':u:' .. uid .. ':bal', 'pend', -a)
      coins = coins + a
    end
    redis.call('XDEL', KEYS[1], id)
  end
end
while i + 2 <= #ARGV do
  local key = tag .. ':u:' .. ARGV[i] .. ':bal'
  local v = tonumber(redis.call('HGET', key, 'v'))
  if not v or tonumber(ARGV[i + 2]) > v then
    redis.call('HSET', key, 'pg', ARGV[i + 1], 'v', ARGV[i + 2])
  end
  i = i + 3
end
return {acked, coins}
