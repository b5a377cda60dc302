"""`_algorithm.step` in Lua, for `RedisQuota`: one atomic script call per operation.

Keep the two in step: every line below mirrors one in `_algorithm.step`, with the same
arithmetic in the same order, so that both give bit-identical results (a test checks this on
the same event sequences). The clock is Redis `TIME` unless a test passes `now`.

KEYS[1]: the hash holding the state.
ARGV: op, limit, window, burst, rate, margin, guard, drift, step, confirm, now ("" = TIME),
obs ("" = none), arg ("" = none), count_wait, zone_arg, ttl (seconds, at least).
Returns strings: granted, wait, reason, now, resets_at, paused_until, k, zone, then the state
fields in `FIELDS` order.

`script_args` never sends "inf" or "nan" (Lua's `tonumber` would read them), but the script
is safe with them anyway: its comparisons are written so that they fall to the same branch as
a missing value. A state field stored as inf or nan (an older version could store a pause of
inf) reads as 0, and the key's TTL is the larger of `ttl` and the pause still to run, which
the algorithm bounds to about two windows.
"""

from __future__ import annotations

__all__ = ["FIELDS", "SCRIPT"]

FIELDS = (
    "init", "k", "used", "carry", "pre", "tokens", "tlast", "paused",
    "cal", "off", "off_t", "bad", "alt", "waits", "throttled",
)  # fmt: skip

SCRIPT = r"""
local FIELDS = {'init', 'k', 'used', 'carry', 'pre', 'tokens', 'tlast', 'paused',
                'cal', 'off', 'off_t', 'bad', 'alt', 'waits', 'throttled'}
local TOKEN_EPS = 1e-9
local BOUNDARY_EPS = 1e-6
local MAX_OFFSET = 1e10
local function num(v) if v == nil or v == '' then return nil end return tonumber(v) end
local function fmt(x) return string.format('%.17g', x) end

local op = tonumber(ARGV[1])
local limit, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local burst, rate = tonumber(ARGV[4]), tonumber(ARGV[5])
local margin, guard = tonumber(ARGV[6]), tonumber(ARGV[7])
local drift, step_, confirm = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local now = num(ARGV[11])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local obs, arg = num(ARGV[12]), num(ARGV[13])
local count_wait, zone_arg = tonumber(ARGV[14]), tonumber(ARGV[15])
local ttl = tonumber(ARGV[16])

local raw = redis.call('HMGET', KEYS[1], unpack(FIELDS))
local s = {}
for i, f in ipairs(FIELDS) do
  local v = tonumber(raw[i])
  if v == nil or v ~= v or v == math.huge or v == -math.huge then v = 0 end
  s[f] = v
end

local function finish(granted, wait, reason, resets_at, paused_until, zone)
  local out = {}
  for i, f in ipairs(FIELDS) do out[i] = fmt(s[f]) end
  redis.call('HSET', KEYS[1], unpack((function()
    local kv = {}
    for i, f in ipairs(FIELDS) do kv[#kv + 1] = f; kv[#kv + 1] = out[i] end
    return kv
  end)()))
  local keep = math.max(ttl, s.paused - now)
  redis.call('PEXPIRE', KEYS[1], math.ceil(keep * 1000))
  local head = {granted, fmt(wait), tostring(reason), fmt(now), fmt(resets_at),
                fmt(paused_until), fmt(s.k), zone}
  for i = 1, #out do head[#head + 1] = out[i] end
  return head
end

-- 1. Offset estimate.
local calibrating = false
if obs ~= nil and math.abs(obs) <= MAX_OFFSET then
  if s.cal == 0 then
    s.cal, s.off, s.off_t, s.bad = 1, obs, now, 0
    calibrating = true
  else
    local aged = drift * math.max(0, now - s.off_t)
    local cur = s.off - aged
    if obs > s.off + aged + step_ then
      if s.bad >= 0 then s.alt = obs else s.alt = math.min(s.alt, obs) end
      s.bad = math.min(s.bad, 0) - 1
      if -s.bad >= confirm then
        s.off, s.off_t, s.bad = s.alt, now, 0
      end
    elseif obs >= cur then
      s.off, s.off_t, s.bad = obs, now, 0
    elseif obs < cur - step_ then
      if s.bad <= 0 then s.alt = obs else s.alt = math.max(s.alt, obs) end
      s.bad = math.max(s.bad, 0) + 1
      if s.bad >= confirm then
        s.off, s.off_t, s.bad = s.alt, now, 0
      end
    else
      s.bad = 0
    end
  end
end
local age = math.max(0, now - s.off_t)
local eff = 0.0
if s.cal == 1 then eff = s.off - drift * age end
local lo = now + eff
-- 2. Window roll.
local k = math.floor(lo / window)
if s.init == 0 then
  s.init, s.k, s.tokens, s.tlast = 1, k, burst, now
elseif k > s.k then
  if k == s.k + 1 then s.used = s.carry else s.used = 0.0 end
  s.carry, s.k = 0.0, k
elseif k < s.k then
  if lo + 1.0 + margin + 2.0 * drift * age >= (k + 1) * window then
    s.carry = s.used
  else
    s.carry = 0.0
  end
  s.k = k
end
if calibrating then
  s.used, s.pre = math.max(s.used, s.pre), 0.0
end
-- 3. Bucket refill.
if now > s.tlast then
  s.tokens = math.min(burst, s.tokens + (now - s.tlast) * rate)
end
s.tlast = now
local boundary = (s.k + 1) * window
local resets_at
if s.cal == 1 then
  resets_at = (boundary - s.off - drift * s.off_t) / (1.0 - drift) + BOUNDARY_EPS
else
  resets_at = boundary + BOUNDARY_EPS
end
local longest = resets_at + window + guard
if s.paused > longest then
  s.paused = resets_at + guard
end
local paused = 0.0
if s.paused > now then paused = s.paused end

if op == 1 then
  local zone = s.cal == 1 and lo + 1.0 + margin + 2.0 * drift * age >= boundary
  local until_, reason = now, 0
  if paused > until_ then until_, reason = paused, 3 end
  if (s.used >= limit or (zone and s.carry >= limit)) and resets_at > until_ then
    until_, reason = resets_at, 2
  end
  if s.tokens + TOKEN_EPS < 1.0 then
    local t = now + (1.0 - s.tokens) / rate
    if t > until_ then until_, reason = t, 1 end
  end
  if count_wait == 2 or (count_wait == 1 and until_ > now) then
    s.waits = s.waits + 1
  end
  local z = '0'
  if zone then z = '1' end
  if until_ <= now then
    s.tokens = math.max(0.0, s.tokens - 1.0)
    s.used = s.used + 1.0
    if zone then s.carry = s.carry + 1.0 end
    if s.cal == 0 then s.pre = s.pre + 1.0 end
    return finish('1', 0.0, 0, resets_at, paused, z)
  end
  return finish('0', until_ - now, reason, resets_at, paused, z)
end

if op == 2 then
  s.throttled = s.throttled + 1
  local until_, reason
  if arg ~= nil and arg >= 0.0 and now + arg <= longest then
    until_, reason = now + arg, 3
    if until_ >= resets_at - (1.0 + margin) then
      s.used = math.max(s.used, limit)
    end
  else
    until_, reason = resets_at + guard, 2
    s.used = math.max(s.used, limit)
  end
  s.paused = math.max(s.paused, until_)
  return finish('0', s.paused - now, reason, resets_at, s.paused, '0')
end

if op == 3 then
  if arg ~= nil and arg == s.k then
    s.used = math.max(0.0, s.used - 1.0)
    if zone_arg == 1 then s.carry = math.max(0.0, s.carry - 1.0) end
  end
  s.tokens = math.min(burst, s.tokens + 1.0)
end

return finish('0', 0.0, 0, resets_at, paused, '0')
"""
