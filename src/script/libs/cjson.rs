use mlua::{Lua, Table};

pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    lua.create_table()
}
