-- Runs once in the functions interpreter, after prelude.lua. Returns `load_library(chunk)`,
-- which runs a library's code the way Redis 7 does: its top level sees only a `redis` table
-- holding register_function, log and the version (everything else is an undefined global);
-- the functions it registers run later with the full globals.
local helpers, err_handler, G = ...
local protect, set_globals, missing = helpers.protect, helpers.set_globals, helpers.missing_global
local error, type, pairs, select, xpcall, tostring = error, type, pairs, select, xpcall, tostring
local setmetatable = setmetatable

local FLAGS = {['no-writes'] = 1, ['allow-oom'] = 2, ['allow-stale'] = 4,
               ['no-cluster'] = 8, ['allow-cross-slot-keys'] = 32}

local registered

local function fail(msg)
  error({err = 'ERR ' .. msg})
end

local function register(name, callback, flags, description)
  if type(name) ~= 'string' or #name == 0 or name:find('[^%w_]') then
    -- Redis 7.0 says "Library" here too.
    fail('Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
  end
  -- Redis compares names within one library exactly (a clash across libraries ignores case).
  if registered.names[name] then fail('Function already exists in the library') end
  registered.names[name] = true
  registered[#registered + 1] = {name = name, callback = callback, flags = flags,
                                 description = description}
end

local function register_function(...)
  -- A function can reach this table at run time (through an upvalue): it only works while
  -- FUNCTION LOAD runs the library.
  if not registered then
    fail('redis.register_function can only be called on FUNCTION LOAD command')
  end
  local n = select('#', ...)
  if n == 1 then
    local args = ...
    if type(args) ~= 'table' then
      fail('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
    end
    local name, callback, description, flags = nil, nil, nil, 0
    for k, v in pairs(args) do
      if k == 'function_name' then
        if type(v) ~= 'string' and type(v) ~= 'number' then fail('function_name argument given to redis.register_function must be a string') end
        name = tostring(v)
      elseif k == 'callback' then
        if type(v) ~= 'function' then fail('callback argument given to redis.register_function must be a function') end
        callback = v
      elseif k == 'description' then
        if type(v) ~= 'string' and type(v) ~= 'number' then fail('description argument given to redis.register_function must be a string') end
        description = tostring(v)
      elseif k == 'flags' then
        if type(v) ~= 'table' then fail('flags argument to redis.register_function must be a table representing function flags') end
        for _, f in pairs(v) do
          local bit = type(f) == 'string' and FLAGS[f]
          if not bit then fail('unknown flag given') end
          flags = flags + (flags % (2 * bit) >= bit and 0 or bit)
        end
      else
        fail('unknown argument given to redis.register_function')
      end
    end
    if not name then fail('redis.register_function must get a function name argument') end
    if not callback then fail('redis.register_function must get a callback argument') end
    register(name, callback, flags, description)
  elseif n == 2 then
    local name, callback = ...
    if type(name) ~= 'string' and type(name) ~= 'number' then fail('first argument to redis.register_function must be a string') end
    name = tostring(name)
    if type(callback) ~= 'function' then fail('second argument to redis.register_function must be a function') end
    register(name, callback, 0, nil)
  else
    fail('wrong number of arguments to redis.register_function')
  end
end

local load_redis = setmetatable({
  register_function = register_function,
  log = G.redis.log,
  LOG_DEBUG = G.redis.LOG_DEBUG, LOG_VERBOSE = G.redis.LOG_VERBOSE,
  LOG_NOTICE = G.redis.LOG_NOTICE, LOG_WARNING = G.redis.LOG_WARNING,
  REDIS_VERSION = G.redis.REDIS_VERSION, REDIS_VERSION_NUM = G.redis.REDIS_VERSION_NUM,
}, {__index = missing})
local load_globals = setmetatable({redis = protect(load_redis)}, {__index = missing})

return function(chunk)
  registered = {names = {}}
  set_globals(load_globals)
  local ok, err = xpcall(chunk, err_handler)
  set_globals(G)
  local result = registered
  registered = nil
  if not ok then return false, err end
  result.names = nil
  return true, result
end
