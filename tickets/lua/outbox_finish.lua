
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if acked == 0 then return 0 end
local outcome, now, id, detail = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if outcome == 'drop' then return 1 end
if redis.call('HGET', KEYS[2], 'status') ~= 'confirmed' then return 1 end
redis.call('HINCRBY', KEYS[2], 'attempts', 1)
redis.call('HSET', KEYS[2], 'updated_at', now)
if outcome == 'done' then
  redis.call('HSET', KEYS[2], 'status', 'handed_off', 'handed_off_at', now, 'handoff_response', detail)
  redis.call('HDEL', KEYS[2], 'next_attempt_at')
  redis.call('PUBLISH', KEYS[5], cjson.encode({event='handed_off', ticket=id, status='handed_off'}))
elseif outcome == 'retry' then
  redis.call('HSET', KEYS[2], 'last_error', detail, 'next_attempt_at', ARGV[7])
  redis.call('ZADD', KEYS[3], ARGV[7], id)
elseif outcome == 'dead' then
  redis.call('HSET', KEYS[2], 'status', 'dead_letter', 'last_error', detail, 'dead_reason', detail, 'dead_at', now)
  redis.call('HDEL', KEYS[2], 'next_attempt_at')
  redis.call('ZADD', KEYS[4], now, id)
  redis.call('PUBLISH', KEYS[5], cjson.encode({event='dead_letter', ticket=id, status='dead_letter'}))
end
return 1
