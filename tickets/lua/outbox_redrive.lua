
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[3], 'status', 'confirmed', 'attempts', 0, 'updated_at', ARGV[2], 'redriven_at', ARGV[2])
redis.call('HDEL', KEYS[3], 'dead_reason', 'dead_at', 'next_attempt_at')
redis.call('XADD', KEYS[2], '*', 'ticket', ARGV[1])
redis.call('PUBLISH', KEYS[4], cjson.encode({event='redriven', ticket=ARGV[1], status='confirmed'}))
return 1
