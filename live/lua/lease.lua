-- lease.lua: hold or release one partition's drain lease (one outbox consumer at a time).
-- KEYS[1] lease string {pN}:lease (value: the holder's worker id)
-- ARGV: 1 worker id, 2 lease ms, 3 op: 'hold' (take it when free, renew it when ours) or
--       'release' (delete it when ours)
-- Returns 1 when the caller holds the lease after 'hold' (or released it), else 0.
local cur = redis.call('GET', KEYS[1])
if ARGV[3] == 'release' then
  if cur == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return 1
  end
  return 0
end
if not cur or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
