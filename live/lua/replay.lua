-- replay.lua: put dead-lettered entries back into the outbox (after the cause was fixed).
-- KEYS[1] dead-letter stream {pN}:dead
-- KEYS[2] outbox stream {pN}:outbox
-- ARGV: 1 partition hash tag ({pN}), then triples (dead-letter entry id, user id, amount):
--       user id '' unless the entry counts in a user's `pend` (see deadletter.lua).
-- Each entry is appended to the outbox with its original fields (without the dl_* ones), its
-- amount is added back to `pend` (the outbox invariant), and it leaves the dead-letter stream.
-- Returns the number of entries replayed.
local tag = ARGV[1]
local moved = 0
for i = 2, #ARGV, 3 do
  local found = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if found[1] then
    local src = found[1][2]
    local fields = {}
    for j = 1, #src, 2 do
      if string.sub(src[j], 1, 3) ~= 'dl_' then
        fields[#fields + 1] = src[j]
        fields[#fields + 1] = src[j + 1]
      end
    end
    if #fields > 0 then
      redis.call('XADD', KEYS[2], '*', unpack(fields))
      if ARGV[i + 1] ~= '' then
        redis.call('HINCRBY', tag .. ':u:' .. ARGV[i + 1] .. ':bal', 'pend', tonumber(ARGV[i + 2]))
      end
    end
    redis.call('XDEL', KEYS[1], ARGV[i])
    moved = moved + 1
  end
end
return moved
