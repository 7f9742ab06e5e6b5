//! The only ways text becomes a Lua function: EVAL bodies and library code (`Engine::compile`)
//! and the `loadstring` / `load` that scripts see. Every route refuses precompiled chunks, as
//! Redis's patched Lua does: crafted bytecode reads and writes arbitrary memory (a known
//! sandbox escape), so a chunk that starts with the bytecode signature is handed to the parser
//! instead, which rejects the signature byte with the same error Redis gives
//! (`unexpected symbol near 'char(27)'`).

use std::borrow::Cow;
use std::ffi::{c_char, c_int, c_void};

use mlua::ffi::{self, lua_State};

/// The first byte of a precompiled Lua chunk (LUA_SIGNATURE[0]).
const BYTECODE_SIGNATURE: u8 = 0x1b;

/// A space before a chunk changes nothing for the parser but keeps Lua from undumping it.
const PARSE_AS_TEXT: &[u8] = b" ";

/// `code` as the loader must see it: with a leading space when it starts with the bytecode
/// signature, otherwise unchanged (no copy).
pub fn text_chunk(code: &[u8]) -> Cow<'_, [u8]> {
    if code.first() == Some(&BYTECODE_SIGNATURE) {
        [PARSE_AS_TEXT, code].concat().into()
    } else {
        code.into()
    }
}

/// Replaces the base library's `loadstring` and `load` in the globals table (before the
/// sandbox is built on top of them).
///
/// # Safety
/// `l` is a valid Lua state with the base library loaded.
pub unsafe fn install(l: *mut lua_State) {
    unsafe {
        ffi::lua_pushcfunction(l, loadstring);
        ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"loadstring".as_ptr());
        ffi::lua_pushcfunction(l, load);
        ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"load".as_ptr());
    }
}

/// lbaselib's `load_aux`: the function, or nil and the message.
unsafe fn load_result(l: *mut lua_State, status: c_int) -> c_int {
    unsafe {
        if status == 0 {
            return 1;
        }
        ffi::lua_pushnil(l);
        ffi::lua_insert(l, -2);
        2
    }
}

/// `loadstring(s [, chunkname])`, as Lua 5.1's, through `text_chunk`.
unsafe extern "C-unwind" fn loadstring(l: *mut lua_State) -> c_int {
    unsafe {
        let mut len = 0usize;
        let s = ffi::luaL_checklstring(l, 1, &mut len);
        let chunkname = ffi::luaL_optstring(l, 2, s);
        let status = {
            let code = text_chunk(std::slice::from_raw_parts(s as *const u8, len));
            ffi::luaL_loadbuffer(l, code.as_ptr() as *const c_char, code.len(), chunkname)
        };
        load_result(l, status)
    }
}

/// What `load`'s reader has handed over so far.
struct ReaderState {
    first_piece: bool,
    /// The first piece started with the signature: a space went first, the piece (in stack
    /// slot 3) goes next.
    piece_pending: bool,
}

/// `load(func [, chunkname])`, as Lua 5.1's: pieces come from `func`; the first one decides
/// whether the chunk needs `PARSE_AS_TEXT` before it.
unsafe extern "C-unwind" fn load(l: *mut lua_State) -> c_int {
    unsafe {
        let chunkname = ffi::luaL_optstring(l, 2, c"=(load)".as_ptr());
        ffi::luaL_checktype(l, 1, ffi::LUA_TFUNCTION);
        // The function, the name, and a slot that keeps the current piece alive.
        ffi::lua_settop(l, 3);
        let mut state = ReaderState {
            first_piece: true,
            piece_pending: false,
        };
        let status = ffi::lua_load(
            l,
            piece_reader,
            &mut state as *mut ReaderState as *mut c_void,
            chunkname,
        );
        load_result(l, status)
    }
}

/// lbaselib's `generic_reader`, plus the signature check on the first piece. Raises (longjmp)
/// only from Lua's own calls; it holds nothing that needs dropping.
unsafe extern "C-unwind" fn piece_reader(
    l: *mut lua_State,
    ud: *mut c_void,
    size: *mut usize,
) -> *const c_char {
    unsafe {
        let state = &mut *(ud as *mut ReaderState);
        if state.piece_pending {
            state.piece_pending = false;
            return ffi::lua_tolstring(l, 3, size);
        }
        ffi::luaL_checkstack(l, 2, c"too many nested functions".as_ptr());
        ffi::lua_pushvalue(l, 1);
        ffi::lua_call(l, 0, 1);
        if ffi::lua_isnil(l, -1) != 0 {
            *size = 0;
            return std::ptr::null();
        }
        if ffi::lua_isstring(l, -1) == 0 {
            ffi::luaL_error(l, c"reader function must return a string".as_ptr());
            return std::ptr::null();
        }
        ffi::lua_replace(l, 3);
        let piece = ffi::lua_tolstring(l, 3, size);
        if std::mem::take(&mut state.first_piece) && *size > 0 && *piece as u8 == BYTECODE_SIGNATURE
        {
            state.piece_pending = true;
            *size = PARSE_AS_TEXT.len();
            return PARSE_AS_TEXT.as_ptr() as *const c_char;
        }
        piece
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_signature_chunks_are_changed() {
        assert!(matches!(text_chunk(b"return 1"), Cow::Borrowed(_)));
        assert_eq!(&*text_chunk(b"\x1bLuaQ"), b" \x1bLuaQ");
        assert_eq!(&*text_chunk(b""), b"");
    }
}
