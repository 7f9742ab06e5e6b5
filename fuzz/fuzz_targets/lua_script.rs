#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cinnabar::fuzz::lua_script(data));
