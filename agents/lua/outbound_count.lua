
-- KEYS[1] this number's counter for the hour, KEYS[2] the hotline's counter for the hour
-- ARGV[1] per-number limit (0: none), ARGV[2] per-hour limit (0: none), ARGV[3] ttl seconds
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local h = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) > 0 and n >= tonumber(ARGV[1]) then return {0, 'number_limit', n, h} end
if tonumber(ARGV[2]) > 0 and h >= tonumber(ARGV[2]) then return {0, 'hourly_limit', n, h} end
n = redis.call('INCR', KEYS[1]); redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
h = redis.call('INCR', KEYS[2]); redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
return {1, '', n, h}
