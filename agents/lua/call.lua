
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
elseif op == 'node_failed' then
  -- the node holding this call is gone (its controller and Asterisk): a caller who was waiting or
  -- ringing goes on the callback list; atomic, so of two survivors only the first one does it
  if st ~= 'waiting' and st ~= 'ringing' then return fail('call_state') end
  local sid = release(A.seat_to or 'ready', A.seat_reason)
  finish('node_failed')
  count(c.lane, nil, 'lost', 1)
  missed(A.missed_reason or 'node_failed')
  emit({type = 'call_lost', call_id = cid, lane = c.lane, seat_id = sid, phase = st, reason = 'node_failed'})
  return reply({seat_id = sid})
elseif op == 'drop' then
  local sid = release(A.seat_to or 'ready', A.seat_reason)
  finish(A.reason or 'lost')
  count(c.lane, nil, 'lost', 1)
  emit({type = 'call_lost', call_id = cid, lane = c.lane, seat_id = sid, phase = st})
  return reply({seat_id = sid})
end
return fail('call_state')
