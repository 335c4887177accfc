-- start.lua: open, resume, switch or take over a user's one live watch session.
-- KEYS[1] session hash     {pN}:u:<uid>:sess
-- KEYS[2] watch hash       {pN}:u:<uid>:watch   (e:<cid> credited ms, n:<cid> last reward n)
-- KEYS[3] balance hash     {pN}:u:<uid>:bal     (pg, v, pend, hold)
-- KEYS[4] deadlines zset   {pN}:deadlines
-- KEYS[5] outbox stream    {pN}:outbox
-- ARGV: 1 user id, 2 content id, 3 tab id, 4 device id, 5 takeover (1/0), 6 new session id,
--       7 node id, 8 connection id, 9 transport (ws/http), 10 session ttl ms
-- Returns {status, session_id, epoch, elapsed_ms, last_n, pg|false, pending, now_ms,
--          other_node, other_conn, other_content, other_device, push_offset, push_epoch, hold}
-- (push_*: the user's push log as tick.lua keeps it, 0 and '' before the first push; hold:
-- 1 while the user is on hold for multi-account review, flag.lua's flag, else 0)
-- status: new | resumed | conflict (nothing written; other_* name the live session) |
--         takeover (a live session of another tab or device ended; its connection is kicked)
-- other_* name the session that was resumed, refused or ended ('' when there was none).
-- All reads and checks come before the first write; TIME is the only clock.
-- OUTBOX s: sid uid cid dev tab ts
-- OUTBOX e: sid uid cid wms ts why
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local uid, cid, tab, dev = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl = tonumber(ARGV[10])
local s = redis.call('HMGET', KEYS[1], 'cid', 'tab', 'dev', 'sid', 'ep', 'node', 'conn', 'dl', 'wms')
local w = redis.call('HMGET', KEYS[2], 'e:' .. cid, 'n:' .. cid, 'po', 'pe')
local po, pe = tonumber(w[3]) or 0, w[4] or ''
local b = redis.call('HMGET', KEYS[3], 'pg', 'pend', 'hold')
local elapsed = tonumber(w[1]) or 0
local lastn = tonumber(w[2]) or 0
local pg = b[1] or false
local pend = tonumber(b[2]) or 0
local hold = b[3] == '1' and 1 or 0

local status = 'new'
local epoch = 0
local other = {'', '', '', ''}
if s[4] then
  epoch = tonumber(s[5]) or 0
  local live = (tonumber(s[8]) or 0) >= now
  local same_tab = s[2] == tab and s[3] == dev
  if live and same_tab and s[1] == cid then
    redis.call('HSET', KEYS[1], 'node', ARGV[7], 'conn', ARGV[8], 'tr', ARGV[9], 'dl', now + ttl)
    redis.call('ZADD', KEYS[4], now + ttl, uid)
    return {'resumed', s[4], epoch, elapsed, lastn, pg, pend, now, s[6], s[7], s[1], s[3], po, pe,
      hold}
  end
  if live and not same_tab and ARGV[5] ~= '1' then
    return {'conflict', s[4], epoch, elapsed, lastn, pg, pend, now, s[6], s[7], s[1], s[3], po, pe,
      hold}
  end
  local why = 'expired'
  if live and same_tab then
    why = 'switched'
  elseif live then
    why = 'replaced'
    status = 'takeover'
  end
  other = {s[6], s[7], s[1], s[3]}
  redis.call('XADD', KEYS[5], '*', 't', 'e', 'sid', s[4], 'uid', uid, 'cid', s[1],
    'wms', s[9] or '0', 'ts', now, 'why', why)
end
epoch = epoch + 1
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'cid', cid, 'tab', tab, 'dev', dev, 'sid', ARGV[6], 'ep', epoch,
  'node', ARGV[7], 'conn', ARGV[8], 'tr', ARGV[9], 'st', now, 'last', now, 'dl', now + ttl, 'wms', 0)
redis.call('ZADD', KEYS[4], now + ttl, uid)
redis.call('XADD', KEYS[5], '*', 't', 's', 'sid', ARGV[6], 'uid', uid, 'cid', cid, 'dev', dev,
  'tab', tab, 'ts', now)
return {status, ARGV[6], epoch, elapsed, lastn, pg, pend, now, other[1], other[2], other[3], other[4],
  po, pe, hold}
