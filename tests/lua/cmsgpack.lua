-- The part of Redis's built-in cmsgpack library that relay/broker/publish.lua uses
-- (pack of strings and integers), for fakeredis, whose Lua has no cmsgpack.
local cmsgpack = {}

local function bytes(n, count)
  local out = {}
  for i = count, 1, -1 do
    out[i] = string.char(n % 256)
    n = math.floor(n / 256)
  end
  return table.concat(out)
end

local function pack_one(value)
  if type(value) == 'string' then
    local n = #value
    if n < 32 then return string.char(0xa0 + n) .. value end
    if n < 256 then return '\217' .. bytes(n, 1) .. value end
    if n < 65536 then return '\218' .. bytes(n, 2) .. value end
    return '\219' .. bytes(n, 4) .. value
  end
  if type(value) == 'number' and value == math.floor(value) and value >= 0 then
    if value < 128 then return string.char(value) end
    if value < 256 then return '\204' .. bytes(value, 1) end
    if value < 65536 then return '\205' .. bytes(value, 2) end
    if value < 4294967296 then return '\206' .. bytes(value, 4) end
    return '\207' .. bytes(value, 8)
  end
  error('cmsgpack shim: only strings and non-negative integers, got ' .. type(value))
end

function cmsgpack.pack(...)
  local out = {}
  for i = 1, select('#', ...) do
    out[i] = pack_one((select(i, ...)))
  end
  return table.concat(out)
end

return cmsgpack
