
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
