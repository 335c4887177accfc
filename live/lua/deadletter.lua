-- deadletter.lua: move outbox entries that cannot be persisted to the dead-letter stream.
-- KEYS[1] outbox stream {pN}:outbox
-- KEYS[2] dead-letter stream {pN}:dead
-- ARGV: 1 partition hash tag ({pN}), 2 consumer group, 3 most entries kept in the dead-letter
--       stream (approximate MAXLEN), 4 now (ms, for the record),
--       then quadruples (entry id, user id, amount, reason): user id '' unless the entry
--       counts in a user's `pend` (a grant whose user id and amount are integers).
-- Per entry, only when XACK returns 1 (it was pending, so this runs once per delivery):
-- copy its fields to the dead-letter stream with `dl_src` (its id), `dl_why` and `dl_at`,
-- take its amount off the user's `pend` (pend = the grants still in the outbox), delete it.
-- Returns the number of entries moved.
local tag, group = ARGV[1], ARGV[2]
local moved = 0
local i = 5
while i + 3 <= #ARGV do
  local id, uid, amt, why = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  i = i + 4
  local found = redis.call('XRANGE', KEYS[1], id, id)
  if redis.call('XACK', KEYS[1], group, id) == 1 then
    local fields = {}
    if found[1] then
      fields = found[1][2]
    end
    fields[#fields + 1] = 'dl_src'
    fields[#fields + 1] = id
    fields[#fields + 1] = 'dl_why'
    fields[#fields + 1] = why
    fields[#fields + 1] = 'dl_at'
    fields[#fields + 1] = ARGV[4]
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(fields))
    if uid ~= '' and found[1] then
      redis.call('HINCRBY', tag .. ':u:' .. uid .. ':bal', 'pend', -tonumber(amt))
    end
    redis.call('XDEL', KEYS[1], id)
    moved = moved + 1
  end
end
return moved
