"""The Lua scripts of the Redis state store. Every key a script touches carries the
gateway's hash tag, so on a Cluster each script runs on one slot."""

# Longest deadline wins; returns the deadline now in force.
PARK = """
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return ARGV[1]
"""
# Applies one batch at most once: KEYS[1] is the batch marker, then one hash per bucket.
# ARGV: marker ttl, then per hash: ttl, field count, field/amount pairs.
APPLY_BATCH = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local a = 2
for i = 2, #KEYS do
  local ttl, n = ARGV[a], tonumber(ARGV[a + 1])
  a = a + 2
  for _ = 1, n do
    redis.call('HINCRBY', KEYS[i], ARGV[a], ARGV[a + 1])
    a = a + 2
  end
  redis.call('EXPIRE', KEYS[i], ttl)
end
return 1
"""
