package redisstore

// Script is the replay store's Lua script, byte for byte the script of the TypeScript store
// (src/replay/redis-script.ts), so TypeScript and Go consumers of one context can share a store
// (SPEC §12). A test compares the two texts.
//
// It applies a list of operations, one key each, and returns one integer per operation. Values:
// "l<token>" while leased (the key expires with the lease, so an expired lease is a missing key:
// Redis's clock alone decides when a lease ends); "1" once completed. ARGV, three per key: op,
// value, ms.
//
//	c  claim     value "l<token>", ms lease  -> 0 claimed, 1 completed, 2 leased by another consumer
//	d  complete  value "l<token>", ms retain -> 1 the caller held the lease, 0 it had been lost
//	                                            (marked completed anyway: the work was done); a
//	                                            completed id's expiry is never brought forward
//	r  release   value "l<token>"            -> 1 released, 0 not held
//	e  extend    value "l<token>", ms lease  -> 1 extended, 0 not held
//
// -1: the key holds something that is not a replay record (another type): the operation fails
// closed without touching it.
const Script = `local out = {}
for i = 1, #KEYS do
  local k, op, v, ms = KEYS[i], ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  local r = 0
  if op == 'c' and redis.call('SET', k, v, 'NX', 'PX', ms) then
    r = 0
  else
    local cur = redis.pcall('GET', k)
    if type(cur) == 'table' then
      r = -1
    elseif op == 'c' then
      if cur and string.byte(cur, 1) == 108 then r = 2 else r = 1 end
    elseif op == 'd' then
      if cur == v then r = 1 end
      local t = -2
      if cur and string.byte(cur, 1) ~= 108 then t = redis.call('PTTL', k) end
      if t == -2 or (t >= 0 and t < tonumber(ms)) then redis.call('SET', k, '1', 'PX', ms) end
    elseif cur == v then
      r = 1
      if op == 'r' then redis.call('DEL', k) else redis.call('PEXPIRE', k, ms) end
    end
  end
  out[i] = r
end
return out`
