-- A call record's status change, compare-and-set on the status the controller decided from
-- (ivr/call_record.py decides; ivr/calls.py runs this).
-- KEYS[1] the call record (hash)
-- ARGV[1] the status read ('' for none), ARGV[2] ttl seconds (0: leave the expiry), ARGV[3..] field, value pairs
local cur = redis.call('HGET', KEYS[1], 'status') or ''
if cur ~= ARGV[1] then return {0, cur} end
local kv = {}
for i = 3, #ARGV do kv[#kv + 1] = ARGV[i] end
if #kv > 0 then redis.call('HSET', KEYS[1], unpack(kv)) end
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
return {1, cur}
