
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
