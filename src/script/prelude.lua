-- Runs once per Lua state, after the libraries are loaded and before any script: builds the
-- error handler and the sandbox Redis 7 gives scripts (read-only globals and library tables,
-- an error for reading an undefined global). Returns the error handler, the real globals table
-- (where KEYS and ARGV are set) and the proxy that scripts see as their globals.
local G, errtext = ...
local error, tostring, type, rawequal = error, tostring, type, rawequal
local raw_rawset, raw_setmetatable, raw_getmetatable = rawset, setmetatable, getmetatable
local getinfo = debug.getinfo

-- Redis's __redis__err__handler: every error becomes {err=..., source=..., line=...}, placed
-- at the first frame of the user's code (our own helpers and C functions are skipped).
local function err_handler(err)
  local level, info = 2, nil
  repeat
    info = getinfo(level, 'nSl')
    level = level + 1
  until not info or (info.what ~= 'C' and info.source ~= '=cinnabar')
  if type(err) == 'userdata' then
    err = errtext(err)
  end
  if type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if info then
    err['source'] = info.source
    err['line'] = info.currentline
  end
  return err
end

local readonly = raw_setmetatable({}, {__mode = 'k'})
local meta_of = raw_setmetatable({}, {__mode = 'k'})

local function deny()
  error('Attempt to modify a readonly table', 2)
end

-- readonly[proxy] is what getmetatable reports for it: nothing for a library table; for the
-- globals, a table (Redis's globals carry a metatable, for the undefined-variable error).
local function protect(real, reported_metatable)
  local proxy, mt = {}, {__index = real, __newindex = deny, __metatable = false}
  raw_setmetatable(proxy, mt)
  readonly[proxy] = reported_metatable or false
  meta_of[proxy] = mt
  return proxy, mt
end

-- The table behind a proxy, for the raw accessors and iteration (never handed to a script).
local function real(t)
  local mt = meta_of[t]
  return mt and mt.__index
end

-- Redis's pcall hands a script the text of an error table ({err=...}), not the table; errors
-- of our Rust-made library functions arrive as userdata and become their message.
local raw_pcall = pcall
local function pcall_result(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if type(e) == 'table' and type(e.err) == 'string' then return false, e.err end
  if type(e) == 'userdata' then return false, errtext(e) end
  return false, e
end
G.pcall = function(...)
  return pcall_result(raw_pcall(...))
end

G.rawset = function(t, k, v)
  if readonly[t] ~= nil then error('Attempt to modify a readonly table', 0) end
  return raw_rawset(t, k, v)
end
G.setmetatable = function(t, mt)
  if readonly[t] ~= nil then error('Attempt to modify a readonly table', 0) end
  return raw_setmetatable(t, mt)
end
local string_mt = raw_getmetatable('')
local string_mt_proxy
G.getmetatable = function(t)
  local reported = readonly[t]
  if reported ~= nil then return reported or nil end
  if type(t) == 'string' then return string_mt_proxy end
  return raw_getmetatable(t)
end
local raw_rawget, raw_next, raw_pairs, raw_ipairs = rawget, next, pairs, ipairs
G.rawget = function(t, k)
  return raw_rawget(real(t) or t, k)
end
G.next = function(t, k)
  return raw_next(real(t) or t, k)
end
G.pairs = function(t)
  local r = real(t)
  if r == nil then return raw_pairs(t) end
  return function(_, k) return raw_next(r, k) end, t, nil
end
G.ipairs = function(t)
  local r = real(t)
  if r == nil then return raw_ipairs(t) end
  return function(_, i)
    i = i + 1
    local v = raw_rawget(r, i)
    if v ~= nil then return i, v end
  end, t, 0
end

for _, name in ipairs({'string', 'table', 'math', 'coroutine', 'redis', 'cjson', 'bit',
                       'struct', 'cmsgpack', 'os'}) do
  if G[name] ~= nil then G[name] = protect(G[name]) end
end

-- Strings' methods come from the read-only string table, and their metatable is read-only.
string_mt.__index = G.string
string_mt_proxy = protect(string_mt)

-- Only what Redis leaves in the sandbox.
for _, name in ipairs({'print', 'dofile', 'loadfile', 'module', 'setfenv', 'getfenv',
                       'newproxy', 'require', 'package', 'io', 'debug'}) do
  G[name] = nil
end

raw_setmetatable(G, {__index = function(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end})
local proxy, proxy_mt = protect(G, protect({}))
raw_rawset(G, '_G', proxy)
-- For the functions engine (functions.lua): what scripts see as globals can be switched to
-- the library-loading environment and back.
local helpers = {
  protect = protect,
  set_globals = function(t) proxy_mt.__index = t end,
  missing_global = raw_getmetatable(G).__index,
}
return err_handler, G, proxy, helpers
