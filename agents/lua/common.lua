
local P = ARGV[1]
local A = cjson.decode(ARGV[2])
local NOW = A.now
local BAND = 4398046511104
local SLOTS = 16
local MAXLV = 10
local INF = math.huge

local function key(...) return P .. ':' .. table.concat({...}, ':') end
local function int(n) return string.format('%d', n) end
local function hgetall(k)
  local h = redis.call('HGETALL', k)
  local t = {}
  for i = 1, #h, 2 do t[h[i]] = h[i + 1] end
  return t
end
local function nz(v) if v == nil or v == false then return '' end return v end

-- byte-wise a < b (Lua's < on strings follows the server's locale)
local function lt(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- the counts made since the last event ride on the next one (records/route_counts.py keeps them in
-- PostgreSQL): [lane, seat, counter, n] each, with the day they were counted on
local COUNTED = {}

local function emit(ev)
  ev.ts = NOW / 1000
  if #COUNTED > 0 then
    ev.counts = COUNTED
    ev.day = A.day
    COUNTED = {}
  end
  redis.call('XADD', key('events'), 'MAXLEN', '~', int(A.maxlen), '*',
             'type', ev.type, 'ts', int(NOW), 'json', cjson.encode(ev))
end

local function count(lane, seat, fld, n)
  if n == nil or n == 0 then return end
  COUNTED[#COUNTED + 1] = {nz(lane), nz(seat), fld, int(n)}
  local scopes = {'all'}
  if lane ~= nil and lane ~= '' then scopes[#scopes + 1] = 'lane:' .. lane end
  if seat ~= nil and seat ~= '' then scopes[#scopes + 1] = 'seat:' .. seat end
  for _, sc in ipairs(scopes) do
    local k = key('stats', A.day, sc)
    redis.call('HINCRBY', k, fld, int(n))
    redis.call('HINCRBY', k, fld .. '@' .. A.hour, int(n))
    redis.call('EXPIRE', k, int(A.stats_ttl))
  end
end

local function sample(lane, ms)
  if lane == nil or lane == '' then return end
  local k = key('handle', lane)
  redis.call('LPUSH', k, int(ms))
  redis.call('LTRIM', k, 0, A.samples - 1)
end

-- Move a seat to another state; keeps ready sets, wrap-ups, log and events in step.
-- s: the seat's hash (as read), o: {at, idle, reason, call, lane, wrap_until}
local function seat_move(id, s, to, o)
  o = o or {}
  local at = o.at or NOW
  local from = s.state or 'logged_out'
  local skills = cjson.decode(s.skills or '{}')
  local lane = nz(s.lane)
  if from == 'ready' then
    for ln, _ in pairs(skills) do redis.call('ZREM', key('ready', ln), id) end
  end
  local f = {'state', to, 'reason', o.reason or ''}
  if from == 'wrap_up' then
    redis.call('ZREM', key('wrapups'), id)
    if to ~= 'wrap_up' and lane ~= '' then
      local wrap = at - (tonumber(s.since) or at)
      if wrap < 0 then wrap = 0 end
      count(lane, id, 'wrap_ms', wrap)
      sample(lane, (tonumber(s.talk_ms) or 0) + wrap)
    end
  end
  if not (from == 'wrap_up' and to == 'wrap_up') then
    f[#f + 1] = 'since'; f[#f + 1] = int(at)
  end
  if to == 'ready' then
    local idle = o.idle or at
    for ln, lv in pairs(skills) do
      redis.call('ZADD', key('ready', ln), int(idle * SLOTS + (MAXLV - lv)), id)
    end
    for _, x in ipairs({'idle', int(idle), 'call', '', 'lane', '', 'wrap_until', ''}) do f[#f + 1] = x end
  elseif to == 'wrap_up' then
    redis.call('ZADD', key('wrapups'), int(o.wrap_until), id)
    for _, x in ipairs({'wrap_until', int(o.wrap_until), 'call', ''}) do f[#f + 1] = x end
  elseif to == 'ringing' or to == 'on_call' then
    for _, x in ipairs({'call', o.call, 'lane', o.lane, 'wrap_until', ''}) do f[#f + 1] = x end
  else
    for _, x in ipairs({'call', '', 'lane', '', 'wrap_until', ''}) do f[#f + 1] = x end
  end
  local op = nz(s.operator)
  if to == 'logged_out' then
    if op ~= '' and redis.call('GET', key('operator', op)) == id then redis.call('DEL', key('operator', op)) end
    for _, x in ipairs({'operator', '', 'skills', '{}'}) do f[#f + 1] = x end
  end
  redis.call('HSET', key('seat', id), unpack(f))
  local call = o.call or nz(s.call)
  redis.call('XADD', key('seatlog'), 'MAXLEN', '~', int(A.seatlog_maxlen), '*',
             'seat', id, 'operator', op, 'from', from, 'to', to, 'reason', o.reason or '',
             'call', call, 'ts', int(at))
  emit({type = 'seat_state', seat_id = id, operator_id = op, from = from, to = to,
        reason = o.reason or '', call_id = call, lane = o.lane or lane, at = at / 1000})
  return from
end
