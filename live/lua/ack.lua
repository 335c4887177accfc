-- ack.lua: acknowledge outbox entries of one partition after their PostgreSQL commit.
-- KEYS[1] outbox stream {pN}:outbox
-- ARGV: 1 partition hash tag ({pN}), 2 consumer group,
--       3 the entry ids, space-separated,
--       4 per entry, space-separated: '<user id>:<amount>' for a grant, '-' otherwise,
--       5 balances to cache, space-separated '<user id>:<PostgreSQL balance>:<version>'.
-- (Three long strings rather than three arguments per entry: packing 15,000 arguments cost
-- the worker more than the whole transaction.)
-- Per entry: XACK; only when it returns 1 (the entry was pending: the first ack of this
-- delivery, so never twice for one grant) is a grant's amount taken off the user's `pend`
-- and the entry removed from the stream. An entry whose XACK returns 0 is left alone: another
-- consumer acknowledged it already, or the group lost its delivery (a Redis restart) and will
-- deliver it again, when the replay is harmless and its ack does the bookkeeping.
-- Removal keeps "the stream holds exactly the unacknowledged entries": when nothing is left
-- pending in the group, every entry up to the newest one acknowledged here was delivered and
-- acknowledged, so XTRIM MINID drops them all at once (XDEL costs ~25 us per entry: it
-- seeks through the node's deleted entries each time); otherwise each one is XDELed.
-- Then each user's cached balance is replaced when the given version is newer (setbal.lua).
-- The balance hashes are named from ARGV[1] (same hash tag as KEYS[1], so the same slot).
-- Returns {entries acknowledged, coins taken off pend}
local tag, group = ARGV[1], ARGV[2]
local shares = {}
for s in string.gmatch(ARGV[4], '%S+') do
  shares[#shares + 1] = s
end
local acked, coins, i = {}, 0, 0
local top_ms, top_seq = -1, -1
for id in string.gmatch(ARGV[3], '%S+') do
  i = i + 1
  if redis.call('XACK', KEYS[1], group, id) == 1 then
    acked[#acked + 1] = id
    local uid, amt = string.match(shares[i] or '-', '^(%d+):(%d+)$')
    if uid then
      redis.call('HINCRBY', tag .. ':u:' .. uid .. ':bal', 'pend', -tonumber(amt))
      coins = coins + tonumber(amt)
    end
    local ms, seq = string.match(id, '^(%d+)%-(%d+)$')
    ms, seq = tonumber(ms), tonumber(seq)
    if ms > top_ms or (ms == top_ms and seq > top_seq) then
      top_ms, top_seq = ms, seq
    end
  end
end
if #acked > 0 then
  if redis.call('XPENDING', KEYS[1], group)[1] == 0 then
    redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-%d', top_ms, top_seq + 1))
  else
    for _, id in ipairs(acked) do
      redis.call('XDEL', KEYS[1], id)
    end
  end
end
for uid, pg, ver in string.gmatch(ARGV[5], '(%d+):(%d+):(%d+)') do
  local key = tag .. ':u:' .. uid .. ':bal'
  local v = tonumber(redis.call('HGET', key, 'v'))
  if not v or tonumber(ver) > v then
    redis.call('HSET', key, 'pg', pg, 'v', ver)
  end
end
return {#acked, coins}
