"""The Redis side of the routing engine: Lua scripts run atomically by the store.

Every change of a seat or a call goes through one of three scripts, so the
ready sets, the waiting sets, the seat-transition log, the event stream and
the counters always change together and never half-way:

- ``SEAT``:  login, ready, pause, wrap-up, logout, forced changes (resync);
- ``CALL``:  enqueue, cancel, callback request, answered, ended, no answer
  (back to its place), callback attempt failed, drop, callback-list done;
- ``MATCH``: ends expired wrap-ups, puts deferred callbacks back in place,
  then makes up to ``limit`` routing decisions with the rules of
  ``agents/policy.py`` (the executable specification: keep them in step).

Calling convention: ``EVALSHA sha 0 prefix json [id]``. ``json`` carries the
time (``now``, whole ms) and the day/hour of the counters, computed by the
caller from its injected clock, so scripts never read Redis' clock. Scripts
answer with a JSON document. Keys are built from the prefix; on Redis Cluster
use a prefix with a hash tag (``{hotline}``) so they share one slot.

Key layout (P = prefix):
  P:seat:<id>        hash   state, operator, skills (JSON), since, idle, reason, call, lane, wrap_until, talk_ms
  P:seats            set    seats that ever logged in
  P:operator:<id>    string the seat an operator is logged in to
  P:ready:<lane>     zset   ready seats with the lane skill, score idle_ms*16 + (10 - level)
  P:wrapups          zset   seats in wrap-up, score = when it ends
  P:call:<id>        hash   lane, caller, arrival, priority, boost, score, callback, cb_number, node, state, seat...
  P:calls            set    active calls
  P:wait:<lane>      zset   waiting calls, score = -(priority + boost) * 2^42 + arrival_ms
  P:deferred         zset   callbacks waiting to retry, score = when they re-enter their place
  P:inbox:<node>     list   assignments (JSON) for the controller holding the call
  P:nodes            hash   node -> its last heartbeat (ms); written by the store, not the scripts (agents/nodes.py)
  P:seat_node        hash   seat -> the node whose Asterisk its phone is on (likewise)
  P:handle:<lane>    list   recent handling times (ms, newest first)
  P:missed           hash   call id -> JSON: the callback list (漏接回拨)
  P:events           stream every call and seat change (type, ts, json)
  P:seatlog          stream seat transitions for reporting
  P:stats:<day>:<scope> hash counters (field and field@HH), scope: all | lane:<id> | seat:<id>
"""
from __future__ import annotations

COMMON = r"""
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

local function emit(ev)
  ev.ts = NOW / 1000
  redis.call('XADD', key('events'), 'MAXLEN', '~', int(A.maxlen), '*',
             'type', ev.type, 'ts', int(NOW), 'json', cjson.encode(ev))
end

local function count(lane, seat, fld, n)
  if n == nil or n == 0 then return end
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
"""

SEAT = COMMON + r"""
local id = ARGV[3]
local s = hgetall(key('seat', id))
local st = s.state or 'logged_out'
local op = A.op
local function fail(code, extra)
  local r = {error = code, state = st, seat_id = id, operator_id = nz(s.operator), call_id = nz(s.call)}
  for k, v in pairs(extra or {}) do r[k] = v end
  return cjson.encode(r)
end
local function done(from, unchanged)
  return cjson.encode({ok = true, from = from, state = redis.call('HGET', key('seat', id), 'state'),
                       unchanged = unchanged or false})
end
local idle_ok = {ready = true, paused = true, wrap_up = true}

if op == 'login' then
  if st ~= 'logged_out' then return fail('already_logged_in') end
  local where = redis.call('GET', key('operator', A.operator))
  if where and where ~= id and redis.call('HGET', key('seat', where), 'operator') == A.operator then
    return fail('already_logged_in', {other_seat = where})
  end
  redis.call('SET', key('operator', A.operator), id)
  redis.call('HSET', key('seat', id), 'operator', A.operator, 'skills', A.skills, 'login_at', int(NOW))
  redis.call('SADD', key('seats'), id)
  s.operator = A.operator
  s.skills = A.skills
  return done(seat_move(id, s, A.to, {reason = A.reason}))
end
if st == 'logged_out' then return fail('not_logged_in') end
if op == 'force' then
  local allowed = false
  for _, x in ipairs(A.from) do if x == st then allowed = true end end
  if not allowed or (A.call ~= nil and nz(s.call) ~= A.call) then return fail('invalid_transition') end
  return done(seat_move(id, s, A.to, {reason = A.reason}))
end
if not idle_ok[st] then return fail('seat_busy') end
if op == 'ready' then
  if st == 'ready' then return done(st, true) end
  return done(seat_move(id, s, 'ready', {}))
elseif op == 'pause' then
  return done(seat_move(id, s, 'paused', {reason = A.reason}))
elseif op == 'wrap_up' then
  if st == 'paused' then return fail('invalid_transition') end
  return done(seat_move(id, s, 'wrap_up', {wrap_until = NOW + A.wrap_ms}))
elseif op == 'logout' then
  return done(seat_move(id, s, 'logged_out', {}))
end
return fail('invalid_transition')
"""

CALL = COMMON + r"""
local cid = ARGV[3]
local ck = key('call', cid)
local c = hgetall(ck)
local st = c.state
local op = A.op
local function fail(code)
  return cjson.encode({error = code, phase = nz(st), call_id = cid, seat_id = nz(c.seat)})
end
local function position()
  local r = redis.call('ZRANK', key('wait', c.lane), cid)
  if r == false then return 0 end
  return r + 1
end
local function arrival() return tonumber(c.arrival) end
local function finish(reason)
  redis.call('HSET', ck, 'state', 'ended', 'end_reason', reason, 'ended_at', int(NOW))
  redis.call('SREM', key('calls'), cid)
  redis.call('ZREM', key('wait', c.lane), cid)
  redis.call('ZREM', key('deferred'), cid)
  redis.call('EXPIRE', ck, int(A.call_ttl))
end
-- the seat serving this call (ringing or on call for it), or nil
local function serving_seat()
  local sid = nz(c.seat)
  if sid == '' then return nil, nil end
  local s = hgetall(key('seat', sid))
  if s.call ~= cid or (s.state ~= 'ringing' and s.state ~= 'on_call') then return nil, nil end
  return sid, s
end
-- free the serving seat: back to ready (a seat that only rang keeps its idle time) or paused
local function release(to, reason)
  local sid, s = serving_seat()
  if sid == nil then return '' end
  local o = {reason = reason}
  if to == 'ready' and s.state == 'ringing' then o.idle = tonumber(s.idle) end
  seat_move(sid, s, to, o)
  return sid
end
local function missed(reason)
  local waited = NOW - arrival()
  redis.call('HSET', key('missed'), cid, cjson.encode({
    call_id = cid, lane = c.lane, caller = nz(c.caller), callback_number = nz(c.cb_number),
    at = NOW / 1000, waited_s = waited / 1000, reason = reason, attempts = tonumber(c.attempts) or 0}))
end
local function reply(t) t.ok = true; t.call_id = cid; return cjson.encode(t) end
local active = st == 'waiting' or st == 'ringing' or st == 'on_call' or st == 'deferred'

if op == 'enqueue' then
  if active then return fail('duplicate_call') end
  redis.call('DEL', ck)
  local f = {}
  for k, v in pairs(A.fields) do f[#f + 1] = k; f[#f + 1] = v end
  redis.call('HSET', ck, 'state', 'waiting', 'attempts', '0', unpack(f))
  c = hgetall(ck)
  redis.call('ZADD', key('wait', c.lane), c.score, cid)
  redis.call('SADD', key('calls'), cid)
  count(c.lane, nil, 'offered', 1)
  emit({type = 'call_queued', call_id = cid, lane = c.lane, priority = tonumber(c.priority),
        boost = tonumber(c.boost), callback = c.callback == '1', node = nz(c.node)})
  return reply({position = position()})
elseif op == 'missed_done' then
  if redis.call('HDEL', key('missed'), cid) == 0 then return fail('unknown_call') end
  emit({type = 'callback_list_done', call_id = cid, seat_id = A.seat or '', result = A.result or ''})
  return reply({})
end
if st == nil then return fail('unknown_call') end
if not active then return fail('call_state') end

if op == 'cancel' then
  if st == 'on_call' then return fail('call_state') end
  local sid = release('ready')
  finish(A.reason)
  local waited = NOW - arrival()
  local abandoned = A.reason == 'abandoned' and c.callback ~= '1'
  if abandoned then
    count(c.lane, nil, 'abandoned', 1)
    count(c.lane, nil, 'wait_ms', waited)
    missed('abandoned')
  end
  emit({type = abandoned and 'call_abandoned' or 'call_removed', call_id = cid,
        lane = c.lane, reason = A.reason, seat_id = sid, waited_s = waited / 1000})
  return reply({})
elseif op == 'callback' then
  if st ~= 'waiting' then return fail('call_state') end
  redis.call('HSET', ck, 'callback', '1', 'cb_number', A.number)
  count(c.lane, nil, 'callback_requested', 1)
  emit({type = 'call_callback_requested', call_id = cid, lane = c.lane})
  return reply({position = position()})
elseif op == 'answered' then
  if st ~= 'ringing' then return fail('call_state') end
  local sid, s = serving_seat()
  if sid == nil or (A.seat ~= nil and A.seat ~= sid) or s.state ~= 'ringing' then return fail('invalid_transition') end
  redis.call('HSET', ck, 'state', 'on_call', 'answered_at', int(NOW))
  seat_move(sid, s, 'on_call', {call = cid, lane = c.lane})
  local waited = NOW - arrival()
  if c.callback == '1' then
    count(c.lane, sid, 'callback_connected', 1)
  else
    count(c.lane, sid, 'answered', 1)
    count(c.lane, sid, 'wait_ms', waited)
    count(c.lane, sid, 'answer_wait_ms', waited)
    if waited <= A.sl_ms then count(c.lane, sid, 'answered_sl', 1) end
  end
  emit({type = 'call_answered', call_id = cid, lane = c.lane, seat_id = sid, waited_s = waited / 1000,
        callback = c.callback == '1'})
  return reply({seat_id = sid, waited_s = waited / 1000})
elseif op == 'ended' then
  if st ~= 'on_call' then return fail('call_state') end
  local talk = NOW - (tonumber(c.answered_at) or NOW)
  count(c.lane, c.seat, 'talk_ms', talk)
  finish(A.reason or 'completed')
  local sid, s = serving_seat()
  if sid ~= nil then
    redis.call('HSET', key('seat', sid), 'talk_ms', int(talk))
    s.talk_ms = int(talk)
    if A.wrap_ms > 0 then
      seat_move(sid, s, 'wrap_up', {wrap_until = NOW + A.wrap_ms})
    else
      sample(c.lane, talk)
      seat_move(sid, s, 'ready', {})
    end
  end
  emit({type = 'call_ended', call_id = cid, lane = c.lane, seat_id = nz(c.seat), talk_s = talk / 1000,
        reason = A.reason or 'completed'})
  return reply({talk_s = talk / 1000})
elseif op == 'no_answer' then
  if st ~= 'ringing' then return fail('call_state') end
  local sid = nz(c.seat)
  if A.pause ~= nil then release('paused', A.pause) else release('ready') end
  count(c.lane, sid, 'no_answer', 1)
  redis.call('HSET', ck, 'state', 'waiting', 'seat', '')
  redis.call('ZADD', key('wait', c.lane), c.score, cid)
  emit({type = 'call_requeued', call_id = cid, lane = c.lane, seat_id = sid, reason = A.why or 'no_answer'})
  return reply({position = position()})
elseif op == 'callback_failed' then
  if c.callback ~= '1' or (st ~= 'ringing' and st ~= 'on_call') then return fail('call_state') end
  local sid, s = serving_seat()
  if sid ~= nil then seat_move(sid, s, 'ready', {}) end
  local attempts = (tonumber(c.attempts) or 0) + 1
  c.attempts = attempts
  redis.call('HSET', ck, 'attempts', tostring(attempts), 'seat', '')
  if attempts < A.max_attempts then
    redis.call('HSET', ck, 'state', 'deferred')
    redis.call('ZADD', key('deferred'), int(NOW + A.retry_ms), cid)
    emit({type = 'callback_retry', call_id = cid, lane = c.lane, attempts = attempts,
          retry_at = (NOW + A.retry_ms) / 1000})
    return reply({retry = true, attempts = attempts})
  end
  finish('callback_failed')
  count(c.lane, nil, 'callback_failed', 1)
  missed('callback_failed')
  emit({type = 'callback_failed', call_id = cid, lane = c.lane, attempts = attempts})
  return reply({retry = false, attempts = attempts})
elseif op == 'drop' then
  local sid = release(A.seat_to or 'ready', A.seat_reason)
  finish(A.reason or 'lost')
  count(c.lane, nil, 'lost', 1)
  emit({type = 'call_lost', call_id = cid, lane = c.lane, seat_id = sid, phase = st})
  return reply({seat_id = sid})
end
return fail('call_state')
"""

MATCH = COMMON + r"""
-- 1. wrap-ups that ran out: the seat is ready since the end of its wrap-up
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', key('wrapups'), '-inf', int(NOW))) do
  local s = hgetall(key('seat', sid))
  if s.state == 'wrap_up' then
    local til = tonumber(s.wrap_until) or NOW
    seat_move(sid, s, 'ready', {at = til, idle = til})
  else
    redis.call('ZREM', key('wrapups'), sid)
  end
end
-- 2. callbacks whose retry time came: back in their place
for _, cid in ipairs(redis.call('ZRANGEBYSCORE', key('deferred'), '-inf', int(NOW))) do
  redis.call('ZREM', key('deferred'), cid)
  local ck = key('call', cid)
  local c = hgetall(ck)
  if c.state == 'deferred' then
    redis.call('HSET', ck, 'state', 'waiting')
    redis.call('ZADD', key('wait', c.lane), c.score, cid)
    emit({type = 'call_requeued', call_id = cid, lane = c.lane, seat_id = '', reason = 'callback_retry'})
  end
end

-- 3. decisions (agents/policy.py)
local RES = A.reserved          -- seat id -> {lane, lend (ms, -1 = never)}
local LANES = A.lanes           -- sorted by priority, high first: {id, prio, ovf, after}

local function thr(sid, call_lane, base)
  local r = RES[sid]
  if r == nil or r.lane == call_lane then return base end
  if r.lend < 0 then return INF end
  if redis.call('ZCARD', key('wait', r.lane)) > 0 then return INF end
  if r.lend > base then return r.lend end
  return base
end

local function min_threshold(L)
  local best = INF
  for _, sid in ipairs(redis.call('ZRANGE', key('ready', L.id), 0, -1)) do
    local t = thr(sid, L.id, 0)
    if t < best then best = t end
    if best == 0 then return 0 end
  end
  if L.ovf ~= '' and best > L.after then
    for _, sid in ipairs(redis.call('ZRANGE', key('ready', L.ovf), 0, -1)) do
      local t = thr(sid, L.id, L.after)
      if t < best then best = t end
      if best <= L.after then break end
    end
  end
  return best
end

-- first call of the lane (in serving order) that has waited at least T ms
local function first_call(L, T)
  local wk = key('wait', L.id)
  if T == 0 then
    local r = redis.call('ZRANGE', wk, 0, 0, 'WITHSCORES')
    if #r == 0 then return nil end
    return {id = r[1], score = tonumber(r[2])}
  end
  local cutoff = NOW - T
  if cutoff < 0 then return nil end
  local lo = '-inf'
  while true do
    local h = redis.call('ZRANGEBYSCORE', wk, lo, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if #h == 0 then return nil end
    local band = math.floor(tonumber(h[2]) / BAND) * BAND
    local r = redis.call('ZRANGEBYSCORE', wk, int(band), int(band + cutoff), 'WITHSCORES', 'LIMIT', 0, 1)
    if #r > 0 then return {id = r[1], score = tonumber(r[2])} end
    lo = int(band + BAND)
  end
end

local function pick_seat(L, c)
  -- a call enqueued by a controller whose clock read later than this NOW (a race between an
  -- enqueue and a match already under way) has waited 0 ms, not a negative time
  local w = math.max(0, NOW - (c.score - math.floor(c.score / BAND) * BAND))
  for _, sid in ipairs(redis.call('ZRANGE', key('ready', L.id), 0, -1)) do
    if thr(sid, L.id, 0) <= w then return sid, false end
  end
  if L.ovf ~= '' and w >= L.after then
    for _, sid in ipairs(redis.call('ZRANGE', key('ready', L.ovf), 0, -1)) do
      if thr(sid, L.id, L.after) <= w then return sid, true end
    end
  end
  return nil, false
end

local function assign(L, c, sid, overflowed)
  redis.call('ZREM', key('wait', L.id), c.id)
  local ck = key('call', c.id)
  local node = nz(redis.call('HGET', ck, 'node'))
  local cb = redis.call('HGET', ck, 'callback') == '1'
  local s = hgetall(key('seat', sid))
  seat_move(sid, s, 'ringing', {call = c.id, lane = L.id})
  redis.call('HSET', ck, 'state', 'ringing', 'seat', sid, 'operator', nz(s.operator), 'assigned_at', int(NOW),
             'overflowed', overflowed and '1' or '0')
  count(L.id, sid, 'rang', 1)
  local a = {call_id = c.id, seat_id = sid, lane = L.id, decided_at = NOW / 1000, overflowed = overflowed,
             operator_id = nz(s.operator), callback = cb, node = node}
  local js = cjson.encode(a)
  if node ~= '' then
    redis.call('RPUSH', key('inbox', node), js)
    redis.call('EXPIRE', key('inbox', node), int(A.inbox_ttl))
  end
  a.type = 'call_assigned'
  emit(a)
  return js
end

local out = {}
for _ = 1, A.limit do
  local best, bestL, bestP = nil, nil, nil
  for _, L in ipairs(LANES) do
    if best ~= nil and L.prio < bestP then break end
    if redis.call('ZCARD', key('wait', L.id)) > 0 then
      local T = min_threshold(L)
      if T < INF then
        local c = first_call(L, T)
        if c ~= nil and (best == nil or c.score < best.score or (c.score == best.score and lt(c.id, best.id))) then
          best, bestL, bestP = c, L, L.prio
        end
      end
    end
  end
  if best == nil then break end
  local sid, overflowed = pick_seat(bestL, best)
  if sid == nil then return redis.error_reply('routing: no seat for chosen call ' .. best.id) end
  out[#out + 1] = assign(bestL, best, sid, overflowed)
end
return '[' .. table.concat(out, ',') .. ']'
"""

SCRIPTS = {"seat": SEAT, "call": CALL, "match": MATCH}
