-- The day's ticket counter raised to at least ARGV[1] (the records' highest number of that day),
-- never lowered: controllers that check at the same time cannot take a number back.
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if floor > current then
  redis.call('SET', KEYS[1], floor)
  return floor
end
return current
