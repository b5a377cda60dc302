"""`_algorithm.step` in Lua, for `RedisQuota`: one atomic script call per operation.

Keep the two in step: every line below mirrors one in `_algorithm.step`, with the same
arithmetic in the same order, so that both give bit-identical results (a test checks this on
the same event sequences). The clock is Redis `TIME` unless a test passes `now`.

KEYS[1]: the hash holding the state.
ARGV: op, limit, window, burst, rate, margin, guard, drift, step, confirm, now ("" = TIME),
obs ("" = none), arg ("" = none), count_wait, zone_arg, ttl (seconds: two windows),
background (0/1), reserve, release, claim.
Returns strings: granted, wait, reason, now, resets_at, paused_until, k, zone, then the state
fields in `FIELDS` order.
"""

from __future__ import annotations

__all__ = ["FIELDS", "SCRIPT"]

FIELDS = (
    "init",
    "k",
    "used",
    "carry",
    "pre",
    "tokens",
    "tlast",
    "paused",
    "cal",
    "off",
    "off_t",
    "bad",
    "alt",
    "waits",
    "throttled",
    "claimed",
)

SCRIPT = r"""
local FIELDS = {'init', 'k', 'used', 'carry', 'pre', 'tokens', 'tlast', 'paused',
                'cal', 'off', 'off_t', 'bad', 'alt', 'waits', 'throttled', 'claimed'}
local TOKEN_EPS = 1e-9
local BOUNDARY_EPS = 1e-6
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
local background = tonumber(ARGV[17]) == 1
local reserve, release, claim = tonumber(ARGV[18]), tonumber(ARGV[19]), tonumber(ARGV[20])

local raw = redis.call('HMGET', KEYS[1], unpack(FIELDS))
local s = {}
for i, f in ipairs(FIELDS) do s[f] = tonumber(raw[i]) or 0 end

local function finish(granted, wait, reason, resets_at, paused_until, zone)
  local out = {}
  for i, f in ipairs(FIELDS) do out[i] = fmt(s[f]) end
  redis.call('HSET', KEYS[1], unpack((function()
    local kv = {}
    for i, f in ipairs(FIELDS) do kv[#kv + 1] = f; kv[#kv + 1] = out[i] end
    return kv
  end)()))
  -- The state matters for the current window and a pause that ends by the next one's end.
  redis.call('PEXPIRE', KEYS[1], math.ceil(ttl * 1000))
  local head = {granted, fmt(wait), tostring(reason), fmt(now), fmt(resets_at),
                fmt(paused_until), fmt(s.k), zone}
  for i = 1, #out do head[#head + 1] = out[i] end
  return head
end

-- 1. Offset estimate.
local calibrating = false
if obs ~= nil and obs == obs and obs ~= math.huge and obs ~= -math.huge then
  if s.cal == 0 then
    s.cal, s.off, s.off_t, s.bad = 1, obs, now, 0
    calibrating = true
  else
    local cur = s.off - drift * math.max(0, now - s.off_t)
    if obs > cur + step_ then
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
  if lo + 1.0 + margin >= (k + 1) * window then
    s.carry = math.max(s.carry, s.pre)
  end
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
local paused = 0.0
if s.paused > now then paused = s.paused end
-- `_algorithm.release_at`.
local function release_at()
  local edge = (s.k + 1) * window - release
  if s.cal == 1 then
    return (edge - s.off - drift * s.off_t) / (1.0 - drift) + BOUNDARY_EPS
  end
  return edge + BOUNDARY_EPS
end

if op == 1 then
  local zone = s.cal == 1 and lo + 1.0 + margin + 2.0 * drift * age >= boundary
  local until_, reason = now, 0
  if paused > until_ then until_, reason = paused, 3 end
  if (s.used >= limit or (zone and s.carry >= limit)) and resets_at > until_ then
    until_, reason = resets_at, 2
  end
  if background then
    if s.used + reserve >= limit and reserve > 0 then
      local held = release_at()
      if held > until_ then until_, reason = held, 4 end
    end
    if s.claimed > until_ then until_, reason = s.claimed, 5 end
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
  if not background then s.claimed = math.max(s.claimed, until_ + claim) end
  return finish('0', until_ - now, reason, resets_at, paused, z)
end

if op == 2 then
  s.throttled = s.throttled + 1
  if arg ~= nil and (arg ~= arg or arg == math.huge or arg == -math.huge or arg < 0
      or now + arg > resets_at + window + guard) then
    arg = nil
  end
  local until_
  if arg == nil then
    until_ = resets_at + guard
    s.used = math.max(s.used, limit)
  else
    until_ = now + arg
    if until_ >= resets_at - (1.0 + margin) then
      s.used = math.max(s.used, limit)
    end
  end
  s.paused = math.max(s.paused, until_)
  return finish('0', s.paused - now, 3, resets_at, s.paused, '0')
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
