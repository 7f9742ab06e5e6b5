//! Lua scripting: EVAL/EVALSHA/SCRIPT and FUNCTION/FCALL on one Lua 5.1 interpreter owned by
//! the executor.

pub mod libs;
