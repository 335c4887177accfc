-- reconcile.lua: repair some users' balance hashes of one partition, atomically (no tick,
-- ack or dead-letter move can interleave).
-- KEYS[1] outbox stream {pN}:outbox
-- ARGV: 1 partition hash tag ({pN}), 2 mode 'check' or 'force', 3 longest outbox to scan,
--       then per user, check: (user id, PostgreSQL balance, balance_version);
--                      force: (user id, PostgreSQL balance, balance_version, expected v).
--       The balance is '' when PostgreSQL has no row for the user (then only pend is checked).
-- Invariant: a user's `pend` = the sum of the user's grants still in the outbox (tick.lua adds
-- both, ack.lua and deadletter.lua take both off). A grant counts when t == 'g', it is not
-- marked held (hold == '1': made while the user was on hold for review, never in pend), and
-- its uid and amt are decimal integers (workers/entries.py `pend_share` is the same rule).
-- The cached `pg`/`v` is replaced only for a user with no grant left in the outbox: then no
-- committed-but-unacknowledged grant can be counted both in PostgreSQL's balance and in pend.
-- check: replaced when PostgreSQL's version is newer, or equal with another balance; a cache
--        newer than PostgreSQL is reported as 'ahead' (the caller reads PostgreSQL again and
--        may force). force: replaced only when `v` still equals the expected version.
-- The balance hashes are named from ARGV[1] (same hash tag as KEYS[1], so the same slot).
-- Returns {uid, what, old, new, ...}: what = pend | pg | ahead; or {'', 'skipped', length, ''}
-- when the outbox is longer than ARGV[3] (nothing checked).
local tag, mode = ARGV[1], ARGV[2]
local len = redis.call('XLEN', KEYS[1])
if len > tonumber(ARGV[3]) then
  return {'', 'skipped', len, ''}
end
local sums = {}
local start = '-'
while true do
  local chunk = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 1000)
  for _, e in ipairs(chunk) do
    local f = e[2]
    local t, uid, amt, hold
    for j = 1, #f, 2 do
      local k = f[j]
      if k == 't' then t = f[j + 1] elseif k == 'uid' then uid = f[j + 1] elseif k == 'amt' then amt = f[j + 1]
      elseif k == 'hold' then hold = f[j + 1] end
    end
    if t == 'g' and hold ~= '1' and uid and amt and string.match(uid, '^%d+$') and string.match(amt, '^%d+$') then
      sums[uid] = (sums[uid] or 0) + tonumber(amt)
    end
  end
  if #chunk < 1000 then break end
  start = '(' .. chunk[#chunk][1]
end

local out = {}
local step = 3
if mode == 'force' then step = 4 end
for i = 4, #ARGV, step do
  local uid, pg, ver = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local key = tag .. ':u:' .. uid .. ':bal'
  local b = redis.call('HMGET', key, 'pg', 'v', 'pend')
  local pend = tonumber(b[3]) or 0
  local want = sums[uid] or 0
  if pend ~= want then
    redis.call('HSET', key, 'pend', want)
    out[#out + 1] = uid; out[#out + 1] = 'pend'; out[#out + 1] = tostring(pend); out[#out + 1] = tostring(want)
  end
  if want == 0 and pg ~= '' then
    local v = tonumber(b[2])
    local pv = tonumber(ver)
    local old = (b[1] or '') .. '@' .. (b[2] or '')
    local replace = false
    if mode == 'force' then
      replace = (v or -1) == tonumber(ARGV[i + 3])
    elseif not v or pv > v or (pv == v and b[1] ~= pg) then
      replace = true
    elseif v > pv then
      out[#out + 1] = uid; out[#out + 1] = 'ahead'; out[#out + 1] = b[2]; out[#out + 1] = ver
    end
    if replace then
      redis.call('HSET', key, 'pg', pg, 'v', ver)
      out[#out + 1] = uid; out[#out + 1] = 'pg'; out[#out + 1] = old; out[#out + 1] = pg .. '@' .. ver
    end
  end
end
return out
