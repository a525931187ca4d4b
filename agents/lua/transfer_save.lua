
-- KEYS[1] active transfer of the call, KEYS[2] the call's transfer record (hash, field 'transfers': every
-- transfer of the call, each as it stands now)
-- ARGV[1] the transfer (JSON), ARGV[2] 'create', or the exact JSON it must hold now (compare-and-set),
-- ARGV[3] ttl seconds of the active transfer, ARGV[4] ttl seconds of the transfer record (the call record's)
local cur = redis.call('GET', KEYS[1])
local new = cjson.decode(ARGV[1])
if ARGV[2] == 'create' then
  if cur then
    local c = cjson.decode(cur)
    if c.state ~= 'done' then return {0, cur} end
  end
else
  if cur ~= ARGV[2] then return {0, cur or ''} end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[3]))
local raw = redis.call('HGET', KEYS[2], 'transfers')
local list = {}
if raw and raw ~= '' then list = cjson.decode(raw) end
local found = false
for i, t in ipairs(list) do
  if t.id == new.id then list[i] = new; found = true end
end
if not found then table.insert(list, new) end
local listing = cjson.encode(list)
redis.call('HSET', KEYS[2], 'transfers', listing)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
return {1, ARGV[1], listing}
