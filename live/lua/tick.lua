-- tick.lua: one heartbeat. Credits server-clock time, grants the rewards whose boundaries it
-- crosses (daily cap, kill switch), appends each grant to the outbox, extends the session.
-- KEYS[1] session hash   {pN}:u:<uid>:sess
-- KEYS[2] watch hash     {pN}:u:<uid>:watch
-- KEYS[3] day hash       {pN}:u:<uid>:day    (d local day number, c rewards that day, w notice sent)
-- KEYS[4] balance hash   {pN}:u:<uid>:bal    (pend; hold 1 = on hold for review)
-- KEYS[5] deadlines zset {pN}:deadlines
-- KEYS[6] outbox stream  {pN}:outbox
-- KEYS[7] push log list  {pN}:u:<uid>:push  (the user's recent reward/notice pushes, JSON)
-- ARGV: 1 user id, 2 session id ('' = match by tab/device/content: HTTP fallback),
--       3 epoch, 4 tab id, 5 device id, 6 content id, 7 earning (1 = playing and visible),
--       8 heartbeat interval ms, 9 session ttl ms, 10 reward interval ms, 11 reward amount,
--       12 daily cap (0 = none), 13 rewards paused (1/0), 14 time zone offset ms,
--       15 pushes kept for recovery (0 = none), 16 how long they are kept (ms),
--       17 boost multiplier in percent (100 = none), 18 boost from ms, 19 boost until ms
--       (an admin's boost of the content: while from <= Redis TIME < until, each grant is
--       floor(amount * percent / 100); the window is judged here, on the script's clock, so
--       every hub and tab that races for a boundary pays it once at the same amount)
-- While the user is on hold (flag.lua), each boundary is granted all the same (same reward
-- id, n:<cid> and the day's count advance) but its outbox entry is marked 'hold' '1', it is
-- not added to `pend`, and it is not listed in the reply: the client is not told of it.
-- Returns {'ok', elapsed_ms, credited_ms, remaining_ms, pg|false, pending, now_ms, notice,
--          session_id, push_offset, push_epoch, amount, rid1, rid2, ...}  (amount: what each
--          grant of this tick pays, the boost applied)  (the ids of the rewards
--          granted and paid by this tick; push_offset: the offset of the first push this tick
--          logged, 0 when none, then one per reward and one for the notice, in that order)
--      or {'no_session'} or {'replaced', device_id, content_id} (a newer session holds it)
-- OUTBOX g: rid uid cid amt ts [hold]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local uid, cid = ARGV[1], ARGV[6]
local s = redis.call('HMGET', KEYS[1], 'cid', 'tab', 'dev', 'sid', 'ep', 'last', 'dl', 'wms')
if not s[4] or (tonumber(s[7]) or 0) < now then
  return {'no_session'}
end
if ARGV[2] ~= '' then
  if s[4] ~= ARGV[2] or s[5] ~= ARGV[3] then
    if s[2] == ARGV[4] and s[3] == ARGV[5] then
      return {'no_session'}
    end
    return {'replaced', s[3], s[1]}
  end
elseif s[2] ~= ARGV[4] or s[3] ~= ARGV[5] or s[1] ~= cid then
  return {'no_session'}
end

local hb, ttl, ivl = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local amount, cap = tonumber(ARGV[11]), tonumber(ARGV[12])
local boost = tonumber(ARGV[17]) or 100
if boost ~= 100 and now >= (tonumber(ARGV[18]) or 0) and now < (tonumber(ARGV[19]) or 0) then
  amount = math.floor(amount * boost / 100)
end
local credit = 0
if ARGV[7] == '1' then
  credit = now - (tonumber(s[6]) or now)
  if credit < 0 then credit = 0 end  -- the clock went back (failover): credit nothing
  local limit = math.floor(hb * 3 / 2)
  if credit > limit then credit = limit end
end

local w = redis.call('HMGET', KEYS[2], 'e:' .. cid, 'n:' .. cid, 'po', 'pe')
local elapsed = tonumber(w[1]) or 0
local lastn = tonumber(w[2]) or 0
local new_elapsed = elapsed + credit
local day = math.floor((now + tonumber(ARGV[14])) / 86400000)
local d = redis.call('HMGET', KEYS[3], 'd', 'c', 'w')
local count, warned = 0, false
if tonumber(d[1]) == day then
  count = tonumber(d[2]) or 0
  warned = d[3] == '1'
end

local granted = {}
local notice = 0
for n = math.floor(elapsed / ivl) + 1, math.floor(new_elapsed / ivl) do
  if n > lastn and ARGV[13] ~= '1' then
    if cap > 0 and count >= cap then
      if not warned then
        notice = 1
        warned = true
      end
    else
      count = count + 1
      lastn = n
      granted[#granted + 1] = n
    end
  end
end
local b = redis.call('HMGET', KEYS[4], 'pg', 'pend', 'hold')
local pend = tonumber(b[2]) or 0
local held = b[3] == '1'

-- Writes.
if credit > 0 then
  redis.call('HSET', KEYS[2], 'e:' .. cid, new_elapsed)
end
if #granted > 0 or notice == 1 then
  redis.call('HSET', KEYS[3], 'd', day, 'c', count, 'w', warned and 1 or 0)
end
-- The reward ids are built here and nowhere else (PROTOCOL: w:<user_id>:<content_id>:<n>);
-- the reply carries them to the hub, and live.rules.reward_id is the model's copy.
local rids = {}
for i, n in ipairs(granted) do
  rids[i] = 'w:' .. uid .. ':' .. cid .. ':' .. n
end
if #granted > 0 then
  redis.call('HSET', KEYS[2], 'n:' .. cid, lastn)
  if held then
    for _, rid in ipairs(rids) do
      redis.call('XADD', KEYS[6], '*', 't', 'g', 'rid', rid,
        'uid', uid, 'cid', cid, 'amt', amount, 'ts', now, 'hold', '1')
    end
    rids = {}
  else
    pend = redis.call('HINCRBY', KEYS[4], 'pend', amount * #granted)
    for _, rid in ipairs(rids) do
      redis.call('XADD', KEYS[6], '*', 't', 'g', 'rid', rid,
        'uid', uid, 'cid', cid, 'amt', amount, 'ts', now)
    end
  end
end
-- The pushes a reconnecting client must not miss, with per-user offsets; the log gets a new
-- epoch (and starts empty) when its hash field was lost.
local first, pepoch = 0, ''
local keep = tonumber(ARGV[15]) or 0
if keep > 0 and (#rids > 0 or notice == 1) then
  local o = tonumber(w[3]) or 0
  pepoch = w[4]
  if not pepoch then
    pepoch = t[1] .. '.' .. t[2]
    o = 0
    redis.call('DEL', KEYS[7])
    redis.call('HSET', KEYS[2], 'pe', pepoch)
  end
  first = o + 1
  for _, rid in ipairs(rids) do
    o = o + 1
    redis.call('RPUSH', KEYS[7], cjson.encode({o = o, k = 'reward', rid = rid, amt = amount,
      cid = tonumber(cid), ts = now}))
  end
  if notice == 1 then
    o = o + 1
    redis.call('RPUSH', KEYS[7], cjson.encode({o = o, k = 'notice', code = 'daily_cap_reached',
      ts = now}))
  end
  redis.call('HSET', KEYS[2], 'po', o)
  redis.call('LTRIM', KEYS[7], -keep, -1)
  redis.call('PEXPIRE', KEYS[7], tonumber(ARGV[16]))
end
redis.call('HSET', KEYS[1], 'last', now, 'dl', now + ttl, 'wms', (tonumber(s[8]) or 0) + credit)
redis.call('ZADD', KEYS[5], now + ttl, uid)
local reply = {'ok', new_elapsed, credit, ivl - (new_elapsed % ivl), b[1] or false, pend, now, notice,
  s[4], first, pepoch, amount}
for _, rid in ipairs(rids) do
  reply[#reply + 1] = rid
end
return reply
