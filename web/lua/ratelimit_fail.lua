
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local first = tonumber(redis.call('HGET', KEYS[1], 'first'))
if (not first) or now - first > window then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'first', ARGV[1])
end
local n = redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('EXPIRE', KEYS[1], math.ceil(window))
if n < tonumber(ARGV[3]) then return '0' end
local k = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], 86400)
local dur = math.min(tonumber(ARGV[5]), tonumber(ARGV[4]) * 2 ^ (k - 1))
redis.call('SET', KEYS[2], tostring(now + dur), 'EX', math.ceil(dur) + 60)
redis.call('DEL', KEYS[1])
return tostring(dur)
