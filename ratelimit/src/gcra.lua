-- GCRA for one key, atomically, on the Redis server's clock.
--
-- KEYS[1]  bucket key; its value is the theoretical arrival time (TAT), in microseconds
--          since the Unix epoch, as an integer string.
-- ARGV[1]  emission interval T in microseconds (integer >= 1)
-- ARGV[2]  burst (integer >= 1)
--
-- Returns {1, remaining, reset_us} when the request conforms (and records it),
--         {0, retry_after_us, reset_us} when it does not (and records nothing).
-- Same arithmetic as governor's GCRA: tolerance = T * (burst - 1).

if redis.replicate_commands then
  -- Redis < 5 refuses writes after TIME unless effects are replicated (a no-op on 7+).
  redis.replicate_commands()
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tolerance = interval * (burst - 1)

local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = math.max(tonumber(stored) or now, now)
end

local earliest = tat - tolerance
if now < earliest then
  return {0, earliest - now, tat - now}
end

local next_tat = tat + interval
local remaining = math.floor((now + tolerance + interval - next_tat) / interval)
-- '%.0f' keeps all digits; tostring() would print 16-digit numbers in exponent form.
redis.call('SET', KEYS[1], string.format('%.0f', next_tat),
  'PX', math.ceil((next_tat - now) / 1000))
return {1, remaining, next_tat - now}
