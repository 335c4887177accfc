-- claim.lua: take over the outbox entries that other consumers left unacknowledged.
-- KEYS[1] outbox stream {pN}:outbox
-- ARGV: 1 consumer group, 2 this consumer, 3 minimum idle ms, 4 most entries to take
-- XAUTOCLAIM ... JUSTID (which does not count as a delivery: reading them back does) from
-- the start of the pending list until it has been walked or ARGV[4] entries were taken.
-- Entries that are pending but were deleted from the stream leave the pending list (Redis 7).
-- Returns {entries taken, deleted id, deleted id, ...}
local start, taken, gone = '0-0', 0, {}
local most = tonumber(ARGV[4])
repeat
  local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], start,
    'COUNT', math.min(1000, most - taken), 'JUSTID')
  start = r[1]
  taken = taken + #r[2]
  if r[3] then
    for _, id in ipairs(r[3]) do gone[#gone + 1] = id end
  end
until start == '0-0' or taken >= most
local out = {taken}
for _, id in ipairs(gone) do out[#out + 1] = id end
return out
